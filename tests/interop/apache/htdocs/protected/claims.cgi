#!/bin/sh
# The application behind mod_auth_openidc: it reads who is signed in, and their rights in
# it, from the environment the module sets (OIDCPassClaimsAs environment).
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
echo "REMOTE_USER=$REMOTE_USER"
env | grep '^OIDC_' | sort
