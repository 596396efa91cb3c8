#!/bin/sh
# Makes what a herd with TLS on its links needs, with openssl, in DIR (default deploy/secrets):
# a herd CA (herd-ca.crt; keep herd-ca.key away from the servers), for each server a key and a
# certificate whose name is the server's name, good for dialing and accepting links
# (<Name>.crt, <Name>.key), and a herd secret (herd_secret), unless one is there already.
#   deploy/certs.sh [DIR [NAME...]]        names default to the 2023 herd
set -eu
dir=${1:-deploy/secrets}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- Bailey Bona Campbell Clark Jaquez
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/herd-ca.key" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=herd CA" -keyout "$dir/herd-ca.key" -out "$dir/herd-ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for name in "$@"; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
    "$name" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/herd-ca.crt" -CAkey "$dir/herd-ca.key" \
    -CAcreateserial -days 825 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  echo "$dir/$name.crt: certificate for $name"
done
[ -f "$dir/herd_secret" ] || openssl rand -hex 32 > "$dir/herd_secret"
chmod 644 "$dir/herd-ca.crt" "$dir"/*.crt
