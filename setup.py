"""Packaging for numeraud: the daemon, its bundled handlers and its command-line tools."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="numeraud",
    version="0.1.0",
    description="A systemd-managed, multi-process daemon that takes part in the Numerai tournament every round.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    # The bundled handlers live in handlers/ but install as `numeraud_handlers`, never as a
    # top-level `handlers` package that could shadow a user's own module.
    packages=[*find_packages(include=["numeraud", "numeraud.*"]), "numeraud_handlers"],
    package_dir={"numeraud_handlers": "handlers"},
    package_data={"numeraud": ["py.typed"], "numeraud_handlers": ["py.typed"]},
    # The units, for `numeraudctl install` from a wheel (it looks in <prefix>/share/numeraud/systemd).
    data_files=[
        (
            "share/numeraud/systemd",
            [
                "systemd/numeraud.service",
                "systemd/numeraud-handler@.service",
                "systemd/numeraud.target",
                "systemd/numeraud.sysusers",
                "systemd/numeraud.tmpfiles",
            ],
        ),
        (
            "share/numeraud/systemd/user",
            ["systemd/user/numeraud.service", "systemd/user/numeraud-handler@.service", "systemd/user/numeraud.target"],
        ),
    ],
    install_requires=[
        "numerapi>=3.1.1",
        "numerai-tools>=0.7.2",
        "numpy>=2.0",
        "pandas>=2.2.2",
        "pyarrow>=16.0",
        "scikit-learn>=1.6.1",
        # the model handler predicts on one thread (many handler processes share the cores)
        "threadpoolctl>=3.1",
        "graphql-core>=3.2.3",
        "pyzmq>=26.0",
        "structlog>=24.1",
        "requests>=2.31",
        "joblib>=1.3",
        "apprise>=1.9",
        "matplotlib>=3.8.4",
        "packaging>=23.0",
        "tomlkit>=0.12",
        # Model Upload pickles (numeraud_handlers.pickle): what Numerai's example notebooks pickle with
        "cloudpickle>=3.0",
    ],
    extras_require={
        # LightGBM for the model handler (estimator = "lightgbm:LGBMRegressor")
        "lightgbm": ["lightgbm>=4.4"],
        # coverage-guided fuzzing of the bus codec and control requests: bench/chaos.py's long run
        "fuzz": ["atheris>=2.3"],
        "test": [
            "pytest>=8.0",
            "pytest-timeout>=2.3",
            # the suite in two processes (`-n` in pyproject.toml): most tests wait on subprocesses
            "pytest-xdist>=3.6",
            "hypothesis>=6.100",
            "import-linter>=2.0",
            "ruff>=0.6",
            "mypy>=1.11",
            "pandas-stubs>=2.2",
            "types-requests>=2.31",
            "lightgbm>=4.4",
            # numerblox's downloader, submitter and Model Upload against the sandbox
            # (tests/sandbox/test_numerai_tools.py); 1.6.1 is its first release that allows numpy 2
            "numerblox>=1.6.1",
        ],
    },
    entry_points={
        "console_scripts": [
            "numeraud=numeraud.cli.main:main",
            "numeraudctl=numeraud.cli.ctl:main",
            "numeraud-handler=numeraud.handler.main:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Topic :: Office/Business :: Financial :: Investment",
    ],
)
