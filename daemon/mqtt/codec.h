// The MQTT codec: everything the broker and the clients (tools, load
// generator, tests) need to turn bytes into packets and packets into bytes,
// for MQTT 3.1.1 and 5.0.
//
// Pure: no sockets, no logging, no broker state, no exceptions. Decoders
// return a Status with the MQTT 5 reason code to report; decoded packets hold
// std::string_view into the caller's input buffer, which must outlive them.
// Encoders append to a caller-owned std::string used as a byte buffer.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include "daemon/mqtt/ack.h"
#include "daemon/mqtt/auth.h"
#include "daemon/mqtt/connack.h"
#include "daemon/mqtt/connect.h"
#include "daemon/mqtt/disconnect.h"
#include "daemon/mqtt/frame.h"
#include "daemon/mqtt/ping.h"
#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/publish.h"
#include "daemon/mqtt/subscribe.h"
#include "daemon/mqtt/topic.h"
#include "daemon/mqtt/types.h"
#include "daemon/mqtt/utf8.h"
#include "daemon/mqtt/varint.h"
