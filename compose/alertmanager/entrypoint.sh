#!/bin/sh
# Alertmanager's entry point (compose.yaml): its secrets arrive in the environment from the Infisical
# injection; Alertmanager 0.25 reads them only from files (credentials_file, auth_password_file). Write each
# that is set into $COLAB_SECRETS_DIR (a tmpfs: memory only), readable by this user alone, remove it from the
# environment, then exec the command (Alertmanager). A secret that is not set leaves no file.
set -eu
dir=${COLAB_SECRETS_DIR:-/run/alertmanager}
umask 077
put() { # put NAME FILE: the variable NAME's value into $dir/FILE, without a trailing newline
  eval "value=\${$1:-}"
  if [ -n "$value" ]; then
    printf '%s' "$value" >"$dir/$2.tmp" && mv -f "$dir/$2.tmp" "$dir/$2"
  fi
  unset "$1" value
}
put ALERT_NTFY_TOKEN ntfy-token
put ALERT_SMTP_PASSWORD smtp-password
unset COLAB_SECRETS_DIR
exec "$@"
