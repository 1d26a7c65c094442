# The Debian package (`make deb`, or `cpack --config <build dir>/CPackConfig.cmake`
# from any build directory). The binaries' install() rules live next to their
# targets (daemon/, tools/); this file installs what packaging/ holds and
# describes the package. Paths follow Debian 12: programs under /usr, the unit
# in /lib/systemd/system, the configuration in /etc/tributary.

set(TRIB_PKG_SRC ${CMAKE_CURRENT_LIST_DIR})
set(TRIB_PKG_OUT ${CMAKE_BINARY_DIR}/packaging)
set(TRIB_DOC_DIR share/doc/tributary)

set(TRIB_DEB_MAINTAINER "Tributary maintainers <tributary@example.org>"
    CACHE STRING "Maintainer field of the Debian package")

# Manual pages carry the version; they and the changelog are compressed the
# way Debian wants them (gzip -9, no name or timestamp, so builds reproduce).
configure_file(${TRIB_PKG_SRC}/man/tributaryd.8.in ${TRIB_PKG_OUT}/tributaryd.8 @ONLY)
configure_file(${TRIB_PKG_SRC}/man/tributary.1.in ${TRIB_PKG_OUT}/tributary.1 @ONLY)
set(_trib_gz)
foreach(src ${TRIB_PKG_OUT}/tributaryd.8 ${TRIB_PKG_OUT}/tributary.1 ${TRIB_PKG_SRC}/deb/changelog)
  get_filename_component(name ${src} NAME)
  add_custom_command(OUTPUT ${TRIB_PKG_OUT}/${name}.gz
                     COMMAND gzip -9n -c ${src} > ${TRIB_PKG_OUT}/${name}.gz
                     DEPENDS ${src} VERBATIM)
  list(APPEND _trib_gz ${TRIB_PKG_OUT}/${name}.gz)
endforeach()
add_custom_target(trib_package_docs ALL DEPENDS ${_trib_gz})

install(FILES ${TRIB_PKG_SRC}/tributary.service DESTINATION /lib/systemd/system)
install(FILES ${TRIB_PKG_SRC}/tributary.toml DESTINATION /etc/tributary)
install(FILES ${TRIB_PKG_OUT}/tributaryd.8.gz DESTINATION share/man/man8)
install(FILES ${TRIB_PKG_OUT}/tributary.1.gz DESTINATION share/man/man1)
install(FILES ${TRIB_PKG_SRC}/deb/copyright ${TRIB_PKG_OUT}/changelog.gz ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${TRIB_DOC_DIR})
install(FILES ${TRIB_PKG_SRC}/examples/low-port.conf DESTINATION ${TRIB_DOC_DIR}/examples)
install(FILES ${TRIB_PKG_SRC}/deb/lintian-overrides DESTINATION share/lintian/overrides
        RENAME tributary)

# Resolve every symbol at start (BIND_NOW) so the GOT can be read-only after
# relocation; link-time only, so it touches nothing else in the build.
target_link_options(tributaryd PRIVATE LINKER:-z,now)
target_link_options(tributary PRIVATE LINKER:-z,now)

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME tributary)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MQTT broker with a durable partitioned log for edge gateways")
set(CPACK_PACKAGE_DESCRIPTION
    "Tributary accepts MQTT 3.1.1 and 5.0 clients, plain or over TLS, and appends
every message that matches a configured stream to a partitioned log in LMDB
before acknowledging it. Subscribers read the log live or replay it from an
offset or a time; exporters ship it to another MQTT broker or a Kafka cluster
and resume where they stopped after an outage.
This package runs tributaryd as a hardened systemd service and ships the
tributary command-line tool.")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TRIB_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps; these are what the maintainer
# scripts call (adduser, deb-systemd-helper/-invoke).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${TRIB_PKG_SRC}/deb/conffiles ${TRIB_PKG_SRC}/deb/postinst
    ${TRIB_PKG_SRC}/deb/prerm ${TRIB_PKG_SRC}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
