"""Methods by name: the CLI's ``-m`` choices come from here, built-in ones and plugins alike.

A package adds a method without editing nnssl by declaring an entry point in the group
``nnssl.methods`` whose object is a :class:`~nnssl.methods.method.Method`, e.g. in its pyproject.toml::

    [project.entry-points."nnssl.methods"]
    mymethod = "my_package.nnssl_plugin:METHOD"

Its pretraining trainers subclass ``nnssl.trainers.base.SSLTrainerBase`` (so the checkpoint contract is the same)
and live in ``Method.trainer_module``; its flags are ``Method.options``; its fine-tune trainers are derived from
``Method.finetune_trainer``. nnssl's nnU-Net shim (``nnssl_trainer_dir``) exports all of them.
"""

import importlib
import warnings
from importlib.metadata import entry_points

from nnssl.methods import global_local, mixcl, regression, supervised
from nnssl.methods.method import Method

ENTRY_POINT_GROUP = "nnssl.methods"

BUILTIN: dict[str, Method] = {m.METHOD.name: m.METHOD for m in (mixcl, global_local, regression, supervised)}


def discover() -> dict[str, Method]:
    """Built-in methods plus every valid ``nnssl.methods`` entry point (a broken plugin warns, never breaks)."""
    methods = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            method = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a broken third-party package (even one calling sys.exit) must not break nnssl
            warnings.warn(f"nnssl: method plugin {ep.name!r} ({ep.value}) failed to load and is skipped: "
                          f"{type(e).__name__}: {e}", stacklevel=2)
            continue
        if not isinstance(method, Method) or method.name != ep.name:
            warnings.warn(f"nnssl: method plugin {ep.name!r} ({ep.value}) is not a Method named {ep.name!r}; "
                          f"ignored", stacklevel=2)
        elif ep.name in BUILTIN:
            warnings.warn(f"nnssl: method plugin {ep.name!r} would replace a built-in method; ignored", stacklevel=2)
        else:
            methods[ep.name] = method
    return methods


METHODS: dict[str, Method] = discover()


def method_of_finetune_trainer(trainer: str, methods: dict[str, Method] | None = None) -> Method | None:
    """The method whose fine-tune trainer (or one of its variants) is named ``trainer``, or None."""
    for method in (methods or METHODS).values():
        if trainer == method.finetune_trainer or trainer.startswith(method.finetune_trainer + "_"):
            return method
    return None


def trainer_classes(methods: dict[str, Method] | None = None) -> dict[str, type]:
    """Every trainer class nnssl gives nnU-Net: scratch baselines, each method's pretraining trainers (from its
    ``trainer_module``) and fine-tune trainers (derived). What nnssl's shim module exports."""
    from nnssl.trainers.finetune import SCRATCH_TRAINERS
    from nnssl.trainers.finetune_variants import finetune_trainers

    out = {cls.__name__: cls for cls in SCRATCH_TRAINERS}
    for name, method in (methods or METHODS).items():
        if method.trainer_module:
            try:
                module = importlib.import_module(method.trainer_module)
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                if name in BUILTIN:  # nnssl's own: a real bug, keep its traceback
                    raise
                warnings.warn(f"nnssl: the trainers of method plugin {name!r} ({method.trainer_module}) failed to "
                              f"import and are skipped: {type(e).__name__}: {e}", stacklevel=2)
                continue
            out.update({n: getattr(module, n) for _, n in method.stages if hasattr(module, n)})
        out.update(finetune_trainers(method))
    return out


def finetune_trainer_class(name: str) -> type:
    """The nnssl fine-tune or scratch trainer class called ``name``.

    Raises:
        ValueError: naming the unknown class and the variants of its method.
    """
    from nnssl.trainers.finetune import SCRATCH_TRAINERS
    from nnssl.trainers.finetune_variants import finetune_trainers

    scratch = {cls.__name__: cls for cls in SCRATCH_TRAINERS}
    if name in scratch:
        return scratch[name]
    method = method_of_finetune_trainer(name)
    classes = finetune_trainers(method) if method else {}
    if name not in classes:
        base = method.finetune_trainer if method else None
        known = ", ".join(sorted(n.removeprefix(base + "_") for n in classes if n != base)) if base else ""
        raise ValueError(f"no nnssl trainer {name!r}" + (f"; {base} has the variants {known}" if base else
                                                           f"; scratch trainers: {', '.join(scratch)}"))
    return classes[name]
