#!/bin/sh
# Runs inside a container booted by test_packaging.py (systemd as PID 1, a
# private network): installs the package and exercises the unit under the real
# systemd. Writes "key=value" facts to /root/facts for the test to assert on,
# a trace to /root/trace, then powers the container off.
exec >/root/trace 2>&1
set -x
FACTS=/root/facts
fact() { echo "$1=$2" >>"$FACTS"; }
prop() { systemctl show tributary -p "$1" --value; }
# A QoS 1 publish: exit code 0 only after the PUBACK.
pub() { timeout 30 mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -t sensors/boot -m "$2"; }

# postinst creates the user, enables the unit and starts it; Type=notify makes
# the start return only once the daemon said READY=1.
timeout 300 dpkg -i /root/tributary.deb
fact install_rc $?
fact enabled "$(systemctl is-enabled tributary)"
fact active "$(systemctl is-active tributary)"
pid=$(prop MainPID)
fact uid "$(awk '/^Uid:/ {print $2}' /proc/"$pid"/status)"
fact tributary_uid "$(id -u tributary)"
fact cap_eff "$(awk '/^CapEff:/ {print $2}' /proc/"$pid"/status)"
fact cap_bnd "$(awk '/^CapBnd:/ {print $2}' /proc/"$pid"/status)"
fact no_new_privs "$(awk '/^NoNewPrivs:/ {print $2}' /proc/"$pid"/status)"
fact seccomp "$(awk '/^Seccomp:/ {print $2}' /proc/"$pid"/status)"
fact state_owner "$(stat -c %U:%G:%a /var/lib/tributary)"
pub 1883 first
fact publish_rc $?
fact status "$(timeout 30 tributary status | awk '$1 == "default" {print "records", $3}')"

# The watchdog: pings every WatchdogSec/2 move systemd's timestamp.
fact watchdog_usec "$(prop WatchdogUSec)"
w0=$(prop WatchdogTimestampMonotonic)
i=0
while [ "$(prop WatchdogTimestampMonotonic)" = "$w0" ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
fact watchdog_pinged "$([ "$(prop WatchdogTimestampMonotonic)" != "$w0" ] && echo yes || echo no)"

# Reload is SIGHUP to the same process.
timeout 60 systemctl reload tributary
fact reload_rc $?
fact reload_same_pid "$([ "$(prop MainPID)" = "$pid" ] && echo yes || echo no)"
fact reload_logged "$(journalctl -u tributary --no-pager | grep -c 'SIGHUP: reloaded')"

# Upgrade: postinst restarts the service on the new binary; the data stays.
timeout 300 dpkg -i /root/next.deb
fact upgrade_rc $?
fact upgrade_active "$(systemctl is-active tributary)"
fact upgrade_new_pid "$([ "$(prop MainPID)" != "$pid" ] && echo yes || echo no)"
# shellcheck disable=SC2016  # $replay is an MQTT topic, not a shell variable
fact replayed "$(timeout 30 mosquitto_sub -h 127.0.0.1 -p 1883 -t '$replay/earliest/sensors/#' -C 1 -W 20)"

# A port below 1024 needs the documented drop-in; without it the start fails
# with a clear error in the journal.
cp /etc/tributary/tributary.toml /root/tributary.toml.saved
sed -i 's|^bind = "127.0.0.1:1883"|bind = "127.0.0.1:1883"\n[[listener]]\nbind = "127.0.0.1:443"|' /etc/tributary/tributary.toml
timeout 60 systemctl restart tributary
fact low_port_without_dropin_rc $?
fact low_port_error "$(journalctl -u tributary --no-pager | grep -c 'cannot listen on 127.0.0.1:443: permission denied')"
mkdir -p /etc/systemd/system/tributary.service.d
cp /usr/share/doc/tributary/examples/low-port.conf /etc/systemd/system/tributary.service.d/
systemctl daemon-reload
systemctl reset-failed tributary
timeout 60 systemctl restart tributary
fact low_port_with_dropin_rc $?
pub 443 low
fact low_port_publish_rc $?
rm /etc/systemd/system/tributary.service.d/low-port.conf
cp /root/tributary.toml.saved /etc/tributary/tributary.toml
systemctl daemon-reload

# SIGTERM under the sandbox: a clean exit, not a failure.
timeout 120 systemctl stop tributary
fact stop_result "$(prop Result)"
fact stop_status "$(prop ExecMainStatus)"

# Remove stops a running service and keeps the data; purge deletes it.
timeout 60 systemctl start tributary
timeout 300 dpkg --remove tributary
fact remove_rc $?
fact after_remove_active "$(systemctl is-active tributary)"
fact after_remove_data "$(find /var/lib/tributary -name data.mdb | wc -l)"
timeout 300 dpkg --purge tributary
fact purge_rc $?
fact after_purge_state "$([ -e /var/lib/tributary ] && echo present || echo gone)"
fact after_purge_user "$(getent passwd tributary >/dev/null && echo present || echo gone)"

fact finished yes
systemctl poweroff
