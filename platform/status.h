// Status and Result: how a call that can fail says so.
//
// Each module has one error enum (storage::Error, config::Error, ...) and uses
// BasicStatus<ThatEnum>. An OK status is a null pointer: it costs nothing to
// create, copy or test. An error carries its code and a short message for logs.
//
// Thread: values; safe to move between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace trib {

template <class Code>
class [[nodiscard]] BasicStatus {
 public:
  BasicStatus() = default;
  BasicStatus(Code code, std::string message)
      : rep_(std::make_unique<Rep>(Rep{code, std::move(message)})) {}
  BasicStatus(const BasicStatus& o) : rep_(o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr) {}
  BasicStatus& operator=(const BasicStatus& o) {
    rep_ = o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr;
    return *this;
  }
  BasicStatus(BasicStatus&&) noexcept = default;
  BasicStatus& operator=(BasicStatus&&) noexcept = default;

  static BasicStatus Ok() { return BasicStatus(); }
  bool ok() const { return rep_ == nullptr; }
  // REQUIRES: !ok() for a meaningful code; an OK status reports Code{} (0).
  Code code() const { return rep_ ? rep_->code : Code{}; }
  const std::string& message() const {
    static const std::string kEmpty;
    return rep_ ? rep_->message : kEmpty;
  }

 private:
  struct Rep {
    Code code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// A value or the status that explains why there is none.
template <class T, class Code>
class [[nodiscard]] BasicResult {
 public:
  BasicResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  BasicResult(BasicStatus<Code> status) : v_(std::move(status)) {}  // NOLINT
  BasicResult(Code code, std::string message) : v_(BasicStatus<Code>(code, std::move(message))) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  BasicStatus<Code> status() const {
    return ok() ? BasicStatus<Code>() : std::get<BasicStatus<Code>>(v_);
  }

 private:
  std::variant<T, BasicStatus<Code>> v_;
};

}  // namespace trib
