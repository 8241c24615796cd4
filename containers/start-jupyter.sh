#!/usr/bin/env bash
# Start JupyterLab in the course container, always with token authentication, never an empty token.
#   JUPYTER_TOKEN   the token to use; unset or empty -> a random one, printed in the URL below
#   NOTEBOOK_DIR    where JupyterLab opens (default: the course's labs/)
# Extra arguments go to `jupyter lab`; one that sets an empty token is refused.
set -euo pipefail

for arg in "$@"; do
    case "${arg}" in
        *[Tt]oken=|*[Tt]oken=\"\"|*[Tt]oken=\'\')
            echo "start-jupyter: refusing '${arg}': the Jupyter token must not be empty" >&2
            exit 2 ;;
    esac
done

token="${JUPYTER_TOKEN:-}"
if [ -z "${token}" ]; then
    token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
fi
export JUPYTER_TOKEN="${token}"

echo "JupyterLab: http://127.0.0.1:8888/lab?token=${token}"
echo "(the container listens on port 8888; publish it on 127.0.0.1 only and reach it through an SSH tunnel)"
exec jupyter lab --no-browser --ServerApp.ip=0.0.0.0 --ServerApp.port=8888 \
    --ServerApp.root_dir="${NOTEBOOK_DIR:-/workspace/course/labs}" \
    --IdentityProvider.token="${token}" "$@"
