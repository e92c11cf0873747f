"""Builds the compiled OTLP → Arrow decoder (starbase/router/native/); everything else about the
package is in pyproject.toml. The decoder is optional: where no C compiler is found, the
install still succeeds and the router uses the pure-Python converter (it logs that it does)."""

from setuptools import Extension, setup

NATIVE = "starbase/router/native"

setup(
    ext_modules=[
        Extension(
            "starbase.router.native._otlp_arrow",
            sources=[f"{NATIVE}/{name}.c" for name in ("module", "decode", "columns", "rows", "text", "json")],
            depends=[f"{NATIVE}/{name}.h" for name in ("otlp_arrow", "columns", "wire")],
            extra_compile_args=["-O2", "-std=gnu11", "-fvisibility=hidden"],
            optional=True,
        )
    ]
)
