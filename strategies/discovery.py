"""Strategies written outside the package: a folder of ``*.py`` files, imported and registered (pure, no Django).

The folder is the ``STRATEGIES_DIR`` setting (environment variable of the same name); ``strategies.apps``
hands it to :func:`register_folder` when Django starts, so its strategies are in
:data:`strategies.registry.STRATEGIES` for the API, the admin and ``manage.py research --strategies name``
exactly like the built-in ones.

Which files: every ``*.py`` directly in the folder, except names starting with ``_`` (helpers:
``from user_strategies._helpers import x`` works) and test files (``test_*.py``, ``*_test.py``). Each is
imported from its path as the module ``user_strategies.<stem>``.

Which classes: every :class:`~strategies.base.BaseStrategy` subclass *defined* in the file (one imported into
it is not that file's strategy). An abstract class without a ``name`` is a helper base and is skipped.

Checks (each failure is one ``ValueError`` line naming the file and the class): the file imports (a syntax
or import error names the line), the class implements ``generate_signals``, its ``name`` is snake_case and
not taken (by a built-in strategy or by another file), the interface version is this platform's, the
universe and regime symbols are known (``marketdata.symbols``), the timeframe is known
(``marketdata.timeframes``), every parameter is a ``Param`` whose default lies in its range, the predicted
win rate is a fraction, ``warmup_bars`` is a whole number >= 0, and the class can be built with its defaults.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import traceback
import types
from pathlib import Path

from strategies.base import BaseStrategy, Param
from strategies.registry import check_strategy_class, register_strategies

#: The package the folder's modules are imported under (``user_strategies.<file stem>``).
MODULE_PREFIX = "user_strategies"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: Strategy names are stored in a 64-character column by the runs that name them.
MAX_NAME_LENGTH = 64


def strategy_files(folder: str | Path) -> list[Path]:
    """The files of ``folder`` that are imported, sorted by name; ``ValueError`` if it is not a folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"strategies folder {str(path)!r} does not exist or is not a directory")
    return sorted(file for file in path.glob("*.py")
                  if not file.name.startswith(("_", "test_")) and not file.stem.endswith("_test"))


def module_name(path: str | Path) -> str:
    """The module name a strategy file is imported as."""
    stem = Path(path).stem
    if not stem.isidentifier():
        raise ValueError(f"{path}: the file name must be a Python identifier (letters, digits, _), "
                         f"got {Path(path).name!r}")
    return f"{MODULE_PREFIX}.{stem}"


def _parent_package(folder: Path) -> None:
    package = sys.modules.get(MODULE_PREFIX)
    if package is None:
        package = types.ModuleType(MODULE_PREFIX, "Strategies of the configured folder (STRATEGIES_DIR).")
        sys.modules[MODULE_PREFIX] = package
    package.__path__ = [str(folder)]


def _error_line(path: Path, exc: BaseException) -> str:
    """``file:line: Error: message`` for an exception raised while importing ``path``."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return f"{path}:{exc.lineno}: SyntaxError: {exc.msg}"
    line = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename) == path:
            line = f":{frame.lineno}"
            break
    message = " ".join(str(exc).split())
    return f"{path}{line}: {type(exc).__name__}: {message}" if message else f"{path}{line}: {type(exc).__name__}"


def load_module(path: str | Path) -> types.ModuleType:
    """Import the strategy file ``path`` (afresh: a second call re-executes it) as ``user_strategies.<stem>``;
    ``ValueError`` with one line (file, line, error) when it cannot be imported."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"strategy file {str(path)!r} does not exist")
    name = module_name(path)
    _parent_package(path.parent)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise ValueError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error of the user's file: one line naming it
        if previous is not None:
            sys.modules[name] = previous
        else:
            del sys.modules[name]
        raise ValueError(_error_line(path, exc)) from exc
    return module


def check_class(cls: type[BaseStrategy], path: str | Path) -> None:
    """Every check a strategy of the folder must pass (see the module docstring); ``ValueError`` naming
    ``path`` and the class otherwise."""
    where = f"{path}: {cls.__name__}"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ValueError(f"{where} does not implement {missing}")
    if not isinstance(cls.name, str) or not cls.name:
        raise ValueError(f"{where} has no name (set name = \"my_strategy\")")
    if not NAME_PATTERN.match(cls.name) or len(cls.name) > MAX_NAME_LENGTH:
        raise ValueError(f"{where}.name {cls.name!r} must be snake_case (a-z, 0-9, _; starting with a letter), "
                         f"at most {MAX_NAME_LENGTH} characters")
    for attribute in ("universe", "regime_symbols"):
        value = getattr(cls, attribute)
        if not isinstance(value, tuple | list) or not all(isinstance(symbol, str) for symbol in value):
            raise ValueError(f"{where}.{attribute} must be a tuple of symbols, got {value!r}")
    if not cls.universe:
        raise ValueError(f"{where}.universe is empty: name the symbols it trades, e.g. (\"BTC\", \"ETH\")")
    if not isinstance(cls.parameters, dict):
        raise ValueError(f"{where}.parameters must be a dict of name: Param, got {type(cls.parameters).__name__}")
    for name, param in cls.parameters.items():
        if not isinstance(param, Param):
            raise ValueError(f"{where}.parameters[{name!r}] must be a Param, got {type(param).__name__}")
        try:
            param.validate(name, param.default)
        except ValueError as exc:
            raise ValueError(f"{where}: default of {exc}") from None
    if isinstance(cls.warmup_bars, bool) or not isinstance(cls.warmup_bars, int) or cls.warmup_bars < 0:
        raise ValueError(f"{where}.warmup_bars must be a whole number of bars >= 0, got {cls.warmup_bars!r}")
    win_rate = cls.predicted_win_rate
    if win_rate is not None and (isinstance(win_rate, bool) or not isinstance(win_rate, int | float)):
        raise ValueError(f"{where}.predicted_win_rate must be a fraction in [0, 1] or None, got {win_rate!r}")
    try:
        check_strategy_class(cls)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        cls()
    except Exception as exc:  # the user's validate_params or __init__
        raise ValueError(f"{where} cannot be built with its default parameters: {exc}") from None


def defined_strategies(module: types.ModuleType) -> list[type[BaseStrategy]]:
    """The ``BaseStrategy`` subclasses defined in ``module`` (not imported into it), helper bases skipped."""
    found = []
    for value in list(vars(module).values()):  # definition order
        if not inspect.isclass(value) or not issubclass(value, BaseStrategy) or value is BaseStrategy:
            continue
        if value.__module__ != module.__name__:
            continue  # imported into the file, not defined there
        if inspect.isabstract(value) and not value.name:
            continue  # an abstract helper base
        found.append(value)
    return found


def load_file(path: str | Path) -> list[type[BaseStrategy]]:
    """Import one strategy file and return its checked strategy classes (in file order)."""
    path = Path(path).expanduser().resolve()
    module = load_module(path)
    classes = defined_strategies(module)
    for cls in classes:
        check_class(cls, path)
    return classes


def discover(folder: str | Path) -> dict[str, tuple[type[BaseStrategy], Path]]:
    """Every strategy of ``folder``: name -> (class, file); ``ValueError`` (one line) at the first failure,
    including two files declaring the same name."""
    found: dict[str, tuple[type[BaseStrategy], Path]] = {}
    for path in strategy_files(folder):
        for cls in load_file(path):
            if cls.name in found:
                other_cls, other_path = found[cls.name]
                raise ValueError(f"{path.resolve()}: {cls.__name__}.name {cls.name!r} is also declared by "
                                 f"{other_cls.__name__} in {other_path}")
            found[cls.name] = (cls, path.resolve())
    return found


def register_folder(folder: str | Path) -> list[str]:
    """Discover the strategies of ``folder`` and add them to the registry (all or none); their names."""
    found = discover(folder)
    return register_strategies([cls for cls, _ in found.values()],
                               {name: str(path) for name, (_, path) in found.items()})


def register_file(path: str | Path) -> list[str]:
    """Import one strategy file and add its strategies to the registry; their names."""
    path = Path(path).expanduser().resolve()
    return register_strategies(load_file(path), str(path))
