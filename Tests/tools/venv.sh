# Shared by the setup scripts of the fakes and of OpenBao: source it, then
#   outpost_venv LABEL VENV REQUIREMENTS 'PYTHON-CHECK' [pip flags…]
# creates or refreshes an isolated venv holding exactly REQUIREMENTS. It does nothing when the venv already holds
# them (a stamp records what was installed) and `python -c PYTHON-CHECK` succeeds. Progress goes to stderr.
outpost_venv() {
    local label="$1" venv="$2" requirements="$3" check="$4"
    shift 4
    local stamp="$venv/.outpost-requirements"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" \
        && "$venv/bin/python" -c "$check" 2>/dev/null; then
        return 0
    fi
    echo "$label: installing a venv in $venv…" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    # The system pip installs into a venv made without its own pip (saves seconds on every fresh CI clone); a pip
    # too old for --python gets the usual venv with pip.
    if python3 -m pip install --help 2>/dev/null | grep -q -- '--python <python>'; then
        python3 -m venv --without-pip "$venv"
        python3 -m pip --python "$venv/bin/python" install -q --disable-pip-version-check --no-compile "$@" \
            -r "$requirements" >&2
    else
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" -r "$requirements" >&2
    fi
    cp "$requirements" "$stamp"
}
