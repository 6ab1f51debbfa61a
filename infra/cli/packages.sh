# Sourced by the set-up scripts (npm run up, test/setup/validators.sh, test/e2e/vps.sh, the e2e
# image build): the one way they say which program they need and which Debian package has it.
#
#   need <program> <package>   notes <package> when <program> is not on this machine
#   install_needed <who> [apt-get option...]
#                              installs every noted package at once (apt-get, as root)
#   as_root <command...>       runs a command as root: directly when we are root (a new machine has
#                              no sudo), through sudo otherwise
#
# test/unit/setup-programs.test.ts reads the `need` lines: every program a test, a benchmark or a
# kit command starts must be preinstalled on a new machine (test/setup/preinstalled.txt) or named
# here by a set-up script that runs before it. Keep each `need` literal, one program a line.
needed_packages=()

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  # Daemons live in sbin, which a non-root PATH may lack.
  [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] && return 0
  case " ${needed_packages[*]} " in *" $2 "*) ;; *) needed_packages+=("$2") ;; esac
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_needed() {
  [ "${#needed_packages[@]}" -gt 0 ] || return 0
  local who=$1
  shift
  echo "$who: installing Debian packages: ${needed_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" "${needed_packages[@]}" >/dev/null
  needed_packages=()
}
