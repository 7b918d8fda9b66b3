# Sourced by the scripts that reuse binaries from the download and build
# cache (scripts/jaeger.sh, scripts/k8s/build.sh, scripts/with-node.sh).
#
# not_a_program FILE -> prints why FILE is not an executable ELF program and
# returns 0; returns 1 (printing nothing) when it is one. A cache copied
# without its large files leaves empty files or text stubs behind, and an
# empty executable runs as an empty shell script: exit 0 and no output, so
# the server it should have started never comes up.
not_a_program() {
  if [[ ! -e $1 ]]; then echo "it does not exist"
  elif [[ ! -x $1 ]]; then echo "it is not executable"
  elif [[ $(od -An -tx1 -N4 "$1" | tr -d ' \n') != 7f454c46 ]]; then echo "it is not a program ($(stat -c %s "$1") bytes, no ELF header)"
  else return 1
  fi
}
