"""Walking models: wrappers seen through, modules in registration order, each once.

>>> import torch
>>> from optfn.routing.walk import iter_modules
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
>>> [name for name, _ in iter_modules(model, "")]
['', '0', '1']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from torch import nn

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.render import brief

__all__ = [
    "NO_SCALE",
    "ModelsLike",
    "Scale",
    "iter_modules",
    "named_models",
    "unwrap",
    "walk",
    "wrapper_attr",
]

#: One module, a sequence of modules (names prefixed ``"0."``, ``"1."``...), or a mapping
#: ``{name: module}`` (names prefixed ``"name."``).
ModelsLike = nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]


_WRAPPER_ATTR: dict[type, str | None] = {}


def wrapper_attr(cls: type) -> str | None:
    """The attribute holding the wrapped model for wrapper classes, else ``None`` (cached)."""
    try:
        return _WRAPPER_ATTR[cls]
    except KeyError:
        if issubclass(cls, nn.parallel.DistributedDataParallel):
            attr: str | None = "module"
        elif cls.__name__ == "OptimizedModule":  # torch.compile; avoids importing torch._dynamo
            attr = "_orig_mod"
        else:
            attr = None
        _WRAPPER_ATTR[cls] = attr
        return attr


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / torch.compile wrappers (any nesting)."""
    attr = wrapper_attr(type(module))
    while attr is not None:
        module = module._modules[attr]  # type: ignore[assignment]
        attr = wrapper_attr(type(module))
    return module


def named_models(models: ModelsLike) -> list[tuple[str, nn.Module]]:
    if isinstance(models, nn.Module):
        return [("", unwrap(models))]
    if isinstance(models, Mapping):
        out = []
        keys = [k for k in models if isinstance(k, str)]
        for key, m in models.items():
            if (
                not isinstance(key, str)
                or not key
                or key.startswith(".")
                or key.endswith(".")
                or ".." in key
            ):
                raise SpecError(
                    "",
                    "models",
                    "mapping keys name the models and must be non-empty strings that neither "
                    f"start nor end with a dot (nor hold '..'), got {brief(key)}",
                )
            clash = next((k for k in keys if k != key and k.startswith(key + ".")), None)
            if clash is not None:  # "enc.x.w" would be both model "enc"'s and "enc.x"'s
                raise SpecError(
                    "",
                    "models",
                    f"model names {key!r} and {clash!r} overlap: the parameter names of "
                    f"{clash!r} would read as names inside {key!r}; rename one",
                )
            if not isinstance(m, nn.Module):
                raise SpecTypeError(
                    "", f"models[{brief(key)}]", f"must be a torch.nn.Module, got {brief(type(m))}"
                )
            out.append((key + ".", unwrap(m)))
        return out
    if isinstance(models, Sequence) and not isinstance(models, str):
        out = []
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise SpecTypeError(
                    "", f"models[{i}]", f"must be a torch.nn.Module, got {brief(type(m))}"
                )
            out.append((f"{i}.", unwrap(m)))
        if not out:
            raise SpecError(
                "", "models", "got an empty sequence; pass at least one torch.nn.Module"
            )
        return out
    raise SpecTypeError(
        "",
        "models",
        "expected a torch.nn.Module, a sequence of them or a mapping name -> module, "
        f"got {type(models).__name__}",
    )


Scale = tuple[float, str | None]  # (LR scale, the deepest lr_scales prefix that set it)
NO_SCALE: Scale = (1.0, None)


def iter_modules(root: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) in registration order, each module once, wrappers see-through.

    ``prefix`` is ``""`` or ends with a dot; the root itself is yielded as ``prefix[:-1]``.
    """
    for name, mod, _ in walk(root, prefix, {}, NO_SCALE):
        yield name, mod


def walk(
    root: nn.Module, prefix: str, scales: dict[str, float], root_scale: Scale
) -> Iterator[tuple[str, nn.Module, Scale]]:
    """:func:`iter_modules` plus each module's LR scale, inherited down the tree.

    The stack holds child iterators (not children), so a container with many children does
    not fill memory with tuples for the GC to walk, and each entry carries its module's
    scale, so a child finds its parent's without a lookup.
    """
    root = unwrap(root)
    seen: set[int] = {id(root)}
    get = scales.get
    root_name = prefix[:-1]
    own = get(root_name) if root_name and scales else None
    cur = (own, root_name) if own is not None else root_scale
    yield root_name, root, cur
    if not root._modules:
        return
    stack = [(prefix, iter(root._modules.items()), cur)]
    wrapper = wrapper_attr
    while stack:
        base, children, parent_scale = stack[-1]
        for key, child in children:
            if child is None:
                continue
            if wrapper(type(child)) is not None:
                child = unwrap(child)
            if id(child) in seen:
                continue
            seen.add(id(child))
            name = base + key
            own = get(name) if scales else None
            cur = (own, name) if own is not None else parent_scale
            yield name, child, cur
            if child._modules:
                stack.append((name + ".", iter(child._modules.items()), cur))
                break
        else:
            stack.pop()
