#!/usr/bin/env bash
# Start JupyterLab in the course container, always with token authentication, never an empty token.
#   JUPYTER_TOKEN   the token to use; unset or empty -> a random one, printed once in the URL below
#   NOTEBOOK_DIR    where JupyterLab opens (default: the course's labs/)
# The token reaches JupyterLab in the environment, never on its command line: the host's `ps` shows a container's
# command lines to every user. A token you chose is never printed (`docker logs` would keep it).
# The course's JupyterLab settings (no news fetched from the internet) are in the checkout's containers/jupyterlab.
# Extra arguments go to `jupyter lab`; one that sets a token is refused.
set -euo pipefail

for arg in "$@"; do
    case "${arg}" in
        *[Tt]oken=|*[Tt]oken=\"\"|*[Tt]oken=\'\')
            echo "start-jupyter: refusing '${arg}': the Jupyter token must not be empty" >&2
            exit 2 ;;
        *[Tt]oken=*)
            echo "start-jupyter: refusing a token argument (every user can read it with ps): set JUPYTER_TOKEN" >&2
            exit 2 ;;
    esac
done

if [ -n "${JUPYTER_TOKEN:-}" ]; then
    echo "JupyterLab: http://127.0.0.1:8888/lab (log in with the JUPYTER_TOKEN you set; on the host: echo \$JUPYTER_TOKEN)"
else
    JUPYTER_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    echo "JupyterLab: http://127.0.0.1:8888/lab?token=${JUPYTER_TOKEN}"
fi
export JUPYTER_TOKEN
echo "(the container listens on port 8888; publish it on 127.0.0.1 only and reach it through an SSH tunnel)"
exec jupyter lab --no-browser --ServerApp.ip=0.0.0.0 --ServerApp.port=8888 \
    --ServerApp.root_dir="${NOTEBOOK_DIR:-/workspace/course/labs}" \
    --LabApp.app_settings_dir=/workspace/course/containers/jupyterlab "$@"
