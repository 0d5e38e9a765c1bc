#!/usr/bin/env bash
# Install Debian's RabbitMQ (3.x) for the harness's local broker, idempotently.
#
# The harness runs its OWN broker node (mocks/broker.py, `digihelse broker start`)
# under a private directory on loopback, so the system service must not run:
# a policy-rc.d keeps the package's postinst from starting it, and any system
# node that is running anyway is stopped. Needs root (or sudo) and apt.
#
#   sudo scripts/install-rabbitmq.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    echo "rabbitmq-server already installed: $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-rabbitmq: needs root (or sudo)" >&2; exit 1; }
    SUDO="sudo"
fi

# Keep invoke-rc.d from starting the system service during the install.
POLICY=/usr/sbin/policy-rc.d
OURS=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    OURS=1
fi
cleanup() { if [ -n "$OURS" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends rabbitmq-server

# If a system node was started anyway (an init without policy-rc.d), stop it:
# it would hold port 5672 and epmd names.
if pgrep -u rabbitmq -f 'beam.*rabbit' >/dev/null 2>&1; then
    $SUDO service rabbitmq-server stop >/dev/null 2>&1 || $SUDO rabbitmqctl stop >/dev/null 2>&1 || true
fi
echo "rabbitmq-server installed: $(dpkg-query -W -f='${Version}' rabbitmq-server)"
