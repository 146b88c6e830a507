# Sourced by the other scripts: makes .venv (Python 3.11+) and installs Frontdesk into it
# with its dev tools, again whenever pyproject.toml changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "Frontdesk needs Python 3.11 or newer." >&2; exit 1; }
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
fi
# FRONTDESK_EXTRAS: the extras to install besides `dev` (scripts/bench asks for `bench`). The
# stamp records the pyproject.toml they were installed from and which extras: a script that
# wants fewer than are installed installs nothing (CI runs the benchmarks, then the tests,
# and installed everything twice).
extras="dev${FRONTDESK_EXTRAS:+,$FRONTDESK_EXTRAS}"
stamp="$root/.venv/.frontdesk-installed"
sha="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
read -r installed_sha installed_extras 2>/dev/null < "$stamp" || true
missing=""
for extra in ${extras//,/ }; do
  case ",${installed_extras:-}," in *",$extra,"*) ;; *) missing=yes ;; esac
done
if [ "${installed_sha:-}" != "$sha" ] || [ -n "$missing" ]; then
  # Those installed from this pyproject.toml stay installed.
  if [ "${installed_sha:-}" = "$sha" ]; then
    for extra in ${installed_extras//,/ }; do
      case ",$extras," in *",$extra,"*) ;; *) extras="$extras,$extra" ;; esac
    done
  fi
  echo "Installing Frontdesk and its dependencies ($extras) into .venv …" >&2
  "$root/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$root/.venv/bin/python" -m pip install --quiet -e "$root[$extras]"
  echo "$sha $extras" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
