module raftctl.local/outside

go 1.19

require github.com/anishathalye/porcupine v1.3.0

// Vendored (porcupine/, MIT, see porcupine/LICENSE.md): the build needs no
// module registry.
replace github.com/anishathalye/porcupine => ./porcupine
