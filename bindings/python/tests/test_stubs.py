"""The .pyi stubs match the native module: the same names, the same
members of every class, and the same parameters (names, kinds, defaults)
for every function and static method."""

import ast
import inspect
import pathlib

import kvitto
from kvitto import _kvitto

STUBS = pathlib.Path(kvitto.__file__).with_name("_kvitto.pyi")


def stub_tree():
    return ast.parse(STUBS.read_text(encoding="utf-8"))


def params_of_stub(fn: ast.FunctionDef, skip_self: bool):
    args = fn.args
    out = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(positional, defaults):
        out.append((a.arg, "POSITIONAL_OR_KEYWORD", ast.literal_eval(d) if d is not None else inspect.Parameter.empty))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append((a.arg, "KEYWORD_ONLY", ast.literal_eval(d) if d is not None else inspect.Parameter.empty))
    if skip_self and out and out[0][0] == "self":
        out = out[1:]
    return out


def params_of(obj):
    sig = inspect.signature(obj)
    return [(p.name, p.kind.name, p.default) for p in sig.parameters.values()]


def test_stubs_ship_with_the_package():
    assert STUBS.is_file()
    assert STUBS.with_name("py.typed").is_file()


def test_module_names_match():
    tree = stub_tree()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    native = {n for n in dir(_kvitto) if not (n.startswith("__") and n.endswith("__"))} | {"__version__"}
    assert names == native


def test_functions_match():
    checked = 0
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            assert params_of(getattr(_kvitto, node.name)) == params_of_stub(node, False), node.name
            checked += 1
    assert checked >= 8


def test_classes_match():
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(_kvitto, node.name)
        members = {}
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                members[item.name] = item
            elif isinstance(item, ast.AnnAssign):
                members[item.target.id] = item
        if node.name == "VerificationError":
            assert issubclass(cls, ValueError) and set(members) == {"code"}
            err = None
            try:
                kvitto.canonicalize(b"{")
            except kvitto.VerificationError as e:
                err = e
            assert err is not None and err.code == "malformed_json"
            continue
        own = {n for n in vars(cls) if not (n.startswith("__") and n.endswith("__"))}
        stubbed = {n for n in members if not (n.startswith("__") and n.endswith("__"))}
        assert own == stubbed, node.name
        for name, item in members.items():
            assert hasattr(cls, name), f"{node.name}.{name}"
            if not isinstance(item, ast.FunctionDef):
                continue
            decorators = {d.id for d in item.decorator_list if isinstance(d, ast.Name)}
            attr = inspect.getattr_static(cls, name)
            if "property" in decorators:
                assert type(attr).__name__ in ("getset_descriptor", "property"), f"{node.name}.{name}"
            elif "staticmethod" in decorators:
                assert isinstance(attr, staticmethod) or callable(attr), f"{node.name}.{name}"
                assert params_of(getattr(cls, name)) == params_of_stub(item, False), f"{node.name}.{name}"
            elif not name.startswith("__"):
                assert params_of(getattr(cls, name))[1:] == params_of_stub(item, True) or params_of(
                    getattr(cls, name)
                ) == params_of_stub(item, True), f"{node.name}.{name}"


def test_client_reexports_are_typed():
    """kvitto/__init__.py imports the client lazily; its TYPE_CHECKING block
    names exactly what __getattr__ serves (kvitto.client.__all__), as
    explicit re-exports, so type checkers see every name. The client itself
    is pure Python with inline annotations (py.typed covers it): no stub."""
    import kvitto.client

    init = pathlib.Path(kvitto.__file__)
    tree = ast.parse(init.read_text(encoding="utf-8"))
    typed = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module == "kvitto.client"
                for alias in imp.names:
                    assert alias.asname == alias.name, alias.name  # `X as X`
                    typed.add(alias.name)
    assert typed == set(kvitto.client.__all__) == set(kvitto._CLIENT)
    assert not (init.parent / "client" / "__init__.pyi").exists()
