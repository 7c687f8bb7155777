#!/usr/bin/env bash
# Regenerates docs/previews/<preset>.png (the README's preset table) for every target preset.
# A preset whose dataset is not at hand (usps, svhn offline) prints its one-line error and is skipped.
source "$(dirname "$0")/_venv.sh"
mkdir -p docs/previews
for yaml in adda/conf/target/*.yaml; do
  name=$(basename "$yaml" .yaml)
  if ! adda-preview target="$name" device=cpu preview.out="docs/previews/$name.png" \
      hydra.run.dir="outputs/previews/$name"; then
    echo "skipped $name"
  fi
done
