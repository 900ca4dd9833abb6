# Convenience wrappers; the scripts in scripts/ are the source of truth.
.PHONY: deps build demo test bench clean
deps:  ; bash scripts/install-deps.sh
build: ; bash scripts/build.sh
demo:  ; bash scripts/demo.sh
test:  ; bash scripts/test.sh
bench: build ; build/bench/domino_bench
clean: ; rm -rf build
