/**
 * The shell scripts that make an sshd in a namespace look like a host. They are written per host
 * with its paths baked in (`H` = the host's dir), so no environment is needed on the host side.
 */

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs inside the host's own UTS + mount namespace (and, behind a bastion, its network
 * namespace). Keeps sshd running across simulated reboots and `host stop/start`. Each boot's sshd
 * gets its own time namespace (so /proc/uptime restarts from 0) and PID namespace (so a reboot
 * ends every process of that boot at once).
 */
export function superviseScript(o: { hdir: string; short: string; waitNet: boolean }): string {
  return `#!/bin/sh
H=${q(o.hdir)}
S="$H/state"
echo $$ > "$S/supervisor.pid"
hostname ${q(o.short)}
mount --bind "$H/etc/hosts" /etc/hosts
# root's ~/.bashrc (pyenv) costs ~700 ms per ssh command: mask it on the hosts (~/.profile only sources it).
[ -e /root/.bashrc ] && mount --bind "$H/empty" /root/.bashrc
mount --bind "$S/boot_id" /proc/sys/kernel/random/boot_id
# systemctl, and reboot/shutdown/halt/poweroff (symlinks to it), become the lab's fakes.
[ -e /usr/bin/systemctl ] && mount --bind "$H/bin/systemctl" /usr/bin/systemctl
${o.waitNet ? 'while [ ! -e "$S/net-ready" ]; do sleep 0.05; done' : ''}
# Inside a boot, pids of the supervisor's namespace are invisible: \`reboot\` asks through this FIFO.
rm -f "$S/ctl"
mkfifo "$S/ctl"
( while :; do
    read -r cmd < "$S/ctl" || continue
    [ "$cmd" = reboot ] && kill -KILL "$(cat "$S/sshd.pid")" 2>/dev/null
  done ) &
SSHD=
trap 'kill -TERM $SSHD 2>/dev/null; exit 0' TERM INT
while :; do
  while [ -e "$S/down" ]; do sleep 0.2; done
  # Builtins only here (read/echo): every fork counts when 50 hosts start on 2 loaded cores.
  read -r id < /proc/sys/kernel/random/uuid
  echo "$id" > "$S/boot_id"
  read -r up _ < /proc/uptime
  U=\${up%%.*}
  # Its own /proc too, as a real host has: pids read from /proc are the ones kill and the boot's
  # processes see (boot_id bound again over it). The inner unshare (no fork: it becomes the boot's
  # pid 1) takes the new mount namespace; the outer one stays in the host's, where \`down\` finds it.
  unshare --pid --fork --kill-child=KILL --time --boottime "-$U" unshare --mount --propagation private /bin/sh -c 'mount -t proc proc /proc && mount --bind "$1/boot_id" /proc/sys/kernel/random/boot_id && exec /usr/sbin/sshd -D -e -f "$2"' boot "$S" "$H/sshd_config" &
  SSHD=$!
  echo $SSHD > "$S/sshd.pid"
  wait $SSHD
  if [ -e "$S/rebooting" ]; then
    sleep "$(cat "$S/rebooting")"
    rm -f "$S/rebooting"
    for f in "$S"/services/*; do
      n=\${f##*/}
      [ -e "$S/faults/$n" ] || echo active > "$f"
    done
  fi
  sleep 0.1
done
`;
}

/**
 * Kill every process of the host's current boot, from outside the host. Each boot runs in its own
 * PID namespace whose init is sshd: KILL to the boot's unshare (--kill-child takes sshd along),
 * and the kernel ends every other process of that boot — no process-table walk.
 */
export function killSessionsScript(o: { hdir: string }): string {
  return `#!/bin/sh
sleep "\${1:-0}"
sshd=$(cat ${q(o.hdir)}/state/sshd.pid 2>/dev/null)
[ -n "$sshd" ] && kill -KILL "$sshd" 2>/dev/null
exit 0
`;
}

/**
 * systemctl and reboot in one script (bind-mounted over /usr/bin/systemctl, whose symlinks
 * reboot/shutdown/halt/poweroff then reach it too). Service state: $S/services/<svc> holds
 * active|inactive|failed|restarting; failure modes: $S/faults/<svc> holds restart|hang|down.
 */
export function systemctlScript(o: { hdir: string; name: string }): string {
  return `#!/bin/sh
H=${q(o.hdir)}
S="$H/state"
secs() { ms=$(cat "$S/$1"); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
case \${0##*/} in
  reboot|shutdown|halt|poweroff)
    secs reboot_ms > "$S/rebooting"
    # A reboot that never comes back (galley-lab host hang-reboot): the host stays down after it.
    [ -e "$S/reboot_hangs" ] && : > "$S/down"
    for f in "$S"/services/*; do echo inactive > "$f"; done
    echo "$(date +%s.%N) reboot" >> "$S/systemctl.log"
    # After a moment (so this command can answer), via the supervisor: see supervise.sh.
    setsid sh -c "sleep 0.3; timeout 5 sh -c 'echo reboot > \\"$S/ctl\\"'" >/dev/null 2>&1 < /dev/null &
    echo "Rebooting ${o.name}."
    exit 0;;
esac
while [ $# -gt 0 ]; do
  case $1 in --*|-q) shift;; *) break;; esac
done
action=$1
[ -n "$action" ] && shift
[ $# -gt 0 ] || { echo "usage: systemctl restart|start|stop|is-active|status SERVICE..." >&2; exit 2; }
echo "$(date +%s.%N) $action $*" >> "$S/systemctl.log"
rc=0
for unit in "$@"; do
  svc=\${unit%.service}
  f="$S/services/$svc"
  if [ ! -e "$f" ]; then
    case $action in
      is-active) echo inactive; rc=3;;
      status) echo "Unit $svc.service could not be found." >&2; rc=4;;
      *) echo "Failed to $action $svc.service: Unit $svc.service not found." >&2; rc=5;;
    esac
    continue
  fi
  fault=$(cat "$S/faults/$svc" 2>/dev/null)
  case $action in
    is-active)
      st=$(cat "$f"); echo "$st"; [ "$st" = active ] || rc=3;;
    status)
      st=$(cat "$f")
      printf '* %s.service - %s (galley lab)\\n     Loaded: loaded (/lib/systemd/system/%s.service; enabled)\\n     Active: %s\\n' "$svc" "$svc" "$svc" "$st"
      [ "$st" = active ] || rc=3;;
    stop)
      echo inactive > "$f";;
    start|restart)
      if [ "$action" = start ] && [ "$(cat "$f")" = active ]; then continue; fi
      echo restarting > "$f"
      case $fault in
        hang) sleep infinity;;
        restart|down)
          sleep "$(secs restart_ms)"
          echo failed > "$f"
          echo "Job for $svc.service failed because the control process exited with error code." >&2
          echo "See \\"systemctl status $svc.service\\" and \\"journalctl -xeu $svc.service\\" for details." >&2
          rc=1;;
        *)
          sleep "$(secs restart_ms)"
          echo active > "$f";;
      esac;;
    *)
      echo "Unknown command verb $action." >&2; exit 1;;
  esac
done
exit $rc
`;
}

export function sshdConfig(o: { listen: string; hdir: string; dir: string; name: string; extra?: string }): string {
  return `# galley lab sshd for ${o.name}
ListenAddress ${o.listen}
HostKey ${o.hdir}/ssh_host_ed25519_key
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AuthorizedKeysFile ${o.dir}/authorized_keys
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ERROR
# sshd's defaults, stated: @galley/remote's handshake and channel limits must really be exercised.
MaxStartups 10:30:100
MaxSessions 10
AllowTcpForwarding yes
SetEnv PATH=${o.hdir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GALLEY_LAB_HOST=${o.name}
${o.extra ?? ''}
`;
}
