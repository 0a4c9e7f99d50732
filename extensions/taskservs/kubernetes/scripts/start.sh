#!/bin/sh
# Initialise the control plane once (kubeadm init with the rendered configuration), then make sure
# kubelet runs. With systemd, kubeadm manages kubelet itself. Without systemd (best effort, not
# how kubeadm is meant to run) kubelet is started in the background with kubeadm's flags.
# Idempotent: an initialised node (admin.conf present) is not initialised again.
set -eu
CONFIG=/etc/kubernetes/provisioning/kubeadm-config.yaml
IGNORE="{{ settings.ignore_preflight_errors | join(',') }}"

start_kubelet() {
  if [ -d /run/systemd/system ]; then
    systemctl enable --quiet kubelet
    systemctl start kubelet
  else
    KUBELET_KUBEADM_ARGS=""
    # shellcheck source=/dev/null # written by kubeadm
    [ -r /var/lib/kubelet/kubeadm-flags.env ] && . /var/lib/kubelet/kubeadm-flags.env
    # shellcheck disable=SC2086 # KUBELET_KUBEADM_ARGS holds several arguments
    start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile /run/kubelet.pid \
      --output /var/log/kubelet.log --exec /usr/bin/kubelet -- \
      --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf \
      --config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS
  fi
}

if [ ! -f /etc/kubernetes/admin.conf ]; then
  if [ -d /run/systemd/system ]; then
    kubeadm init --config "$CONFIG" ${IGNORE:+--ignore-preflight-errors="$IGNORE"}
  else
    kubeadm init phase kubelet-start --config "$CONFIG"
    start_kubelet
    kubeadm init --config "$CONFIG" --skip-phases=kubelet-start ${IGNORE:+--ignore-preflight-errors="$IGNORE"}
  fi
{% if settings.schedule_on_control_plane %}
  kubectl --kubeconfig /etc/kubernetes/admin.conf taint nodes --all node-role.kubernetes.io/control-plane- 2>/dev/null || true
{% endif %}
fi
start_kubelet
