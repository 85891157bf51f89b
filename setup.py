"""Package discovery, the one part of the build that pyproject.toml cannot state.

integrations/ sits at the repository root and is installed as ``autolog.integrations``
(``package-dir`` in pyproject.toml). A ``[tool.setuptools.packages.find]`` table names every
package it finds after its folders, so it would install ``integrations``, never
``autolog.integrations``; the alternative is a list kept by hand. Here both folders are
searched and what is found in integrations/ is named under autolog. Folders without an
``__init__.py`` (the web UI's static files) are found as namespace packages, so their files
are package data of a package setuptools knows. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

_NOT_PACKAGES = ["*.__pycache__"]

setup(
    packages=[
        *find_namespace_packages(include=["autolog", "autolog.*"], exclude=_NOT_PACKAGES),
        *(
            f"autolog.{name}"
            for name in find_namespace_packages(
                include=["integrations", "integrations.*"], exclude=_NOT_PACKAGES
            )
        ),
    ]
)
