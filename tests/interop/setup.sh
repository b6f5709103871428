#!/usr/bin/env bash
# Installs what the interoperability tests (tests/it/interop.rs) need, when it is missing:
#   - Debian's apache2 and libapache2-mod-auth-openidc (apt-get; needs root);
#   - the Node relying party's packages: `npm ci` in tests/interop/node (Node 20+ needed);
#   - the Python relying party's packages: a venv in target/interop/venv from
#     tests/interop/python/requirements.txt.
# Idempotent: what is there and up to date is left alone (a second run takes a second).
# Exits non-zero, naming it, when something could not be installed.
set -uo pipefail
cd "$(dirname "$0")/../.."

failed=()

if [ ! -x /usr/sbin/apache2 ] || [ ! -f /usr/lib/apache2/modules/mod_auth_openidc.so ]; then
  echo "== installing apache2 and libapache2-mod-auth-openidc (Debian packages)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           apache2 libapache2-mod-auth-openidc >/dev/null; }; then
    failed+=("apache2 + libapache2-mod-auth-openidc (apt-get)")
  fi
fi

node_dir=tests/interop/node
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  failed+=("Node 20+ and npm (not on PATH)")
elif ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.sesame-installed-lock"; then
  echo "== npm ci in $node_dir"
  if (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error); then
    cp "$node_dir/package-lock.json" "$node_dir/node_modules/.sesame-installed-lock"
  else
    failed+=("npm ci in $node_dir")
  fi
fi

venv=target/interop/venv
requirements=tests/interop/python/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== Python venv $venv from $requirements"
  rm -rf "$venv"
  if python3 -m venv "$venv" &&
     "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"; then
    cp "$requirements" "$venv/requirements.txt"
  else
    failed+=("pip install -r $requirements (in $venv)")
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '!! could not install: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== interoperability RPs ready: $(/usr/sbin/apache2 -v | head -n 1 | cut -d' ' -f3)" \
  "+ mod_auth_openidc $(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null)," \
  "openid-client $(node -p "require('./$node_dir/node_modules/openid-client/package.json').version")," \
  "Authlib $("$venv/bin/python" -c 'import authlib; print(authlib.__version__)')"
