"""Names a package exports, imported from their modules on first use, so that importing a package (and the CLI)
stays fast; and the modules that moved, kept importable under their old names."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings


def exports(package: str, names: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for a package exporting ``names`` (name -> module below the package)."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


class _MovedModule(types.ModuleType):
    """An old module path: each name is looked up in the modules it moved to, with a DeprecationWarning."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"Moved to {', '.join(targets)}.")
        self._targets = targets

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                warnings.warn(f"{self.__name__} has moved: import {attr} from {target}", DeprecationWarning,
                              stacklevel=2)
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (moved to {', '.join(self._targets)}) has no attribute "
                             f"{attr!r}")


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module paths in ``moved`` (old name -> the modules that now hold its names)."""

    def __init__(self, moved: dict[str, tuple[str, ...]]):
        self.moved = moved

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in self.moved else None

    def create_module(self, spec):
        return _MovedModule(spec.name, self.moved[spec.name])

    def exec_module(self, module):
        pass
