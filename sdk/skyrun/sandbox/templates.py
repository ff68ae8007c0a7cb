"""The deployment's CloudFormation templates, and the intrinsic functions in them.

The sandbox creates what the templates declare, so the CDK app stays the single source of
the deployment. Templates come from a ``cdk.out`` directory when one is given, else from
synthesizing the app in ``infra/`` in this process; synthesis costs seconds, so its
templates are cached under ``$XDG_CACHE_HOME/skyrun`` by a hash of what they derive from.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skyrun.backends.aws import resources as r

#: The repository root, when skyrun runs from a source tree (sdk/skyrun/sandbox/...).
REPO_ROOT = Path(__file__).resolve().parents[3]


def _infra_dir() -> Path:
    return REPO_ROOT / "infra"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skyrun" / "sandbox-templates"


def _fingerprint(deployment: str) -> str:
    digest = hashlib.sha256(deployment.encode())
    files = sorted((_infra_dir() / "skyrun_infra").rglob("*.py"))
    files += [Path(r.__file__), REPO_ROOT / "cdk.json", REPO_ROOT / "cdk.context.json"]
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def from_cdk_out(directory: str | Path, deployment: str) -> dict[str, dict]:
    """The templates of ``deployment``'s stacks in a ``cdk.out`` directory."""
    directory = Path(directory)
    templates = {}
    for name in r.stack_names(deployment):
        path = directory / f"{name}.template.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run 'cdk synth' for deployment "
                                    f"{deployment!r} first, or leave out the cdk.out directory")
        templates[name] = json.loads(path.read_text())
    return templates


def synthesize(deployment: str) -> dict[str, dict]:
    """Synthesize the CDK app of ``deployment`` in this process (cached on disk)."""
    cache = _cache_dir() / f"{deployment}-{_fingerprint(deployment)}.json"
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass  # a torn write; synthesize again
    if not (_infra_dir() / "skyrun_infra").is_dir():
        raise FileNotFoundError(
            f"the CDK app is not at {_infra_dir()}; run the sandbox from a skyrun source "
            "tree, or give the templates with --cdk-out")
    if str(_infra_dir()) not in sys.path:
        sys.path.insert(0, str(_infra_dir()))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    from skyrun_infra.deployment import build_app
    from skyrun_infra.settings import PREFIX

    with tempfile.TemporaryDirectory(prefix="skyrun-synth-") as outdir:
        app, built = build_app({PREFIX: deployment}, outdir=outdir)
        assembly = app.synth()
        templates = {stack.stack_name: assembly.get_stack_artifact(stack.artifact_id).template
                     for stack in built.stacks}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(templates))
    os.replace(tmp, cache)
    return templates


def load(deployment: str, cdk_out: str | Path | None = None) -> dict[str, dict]:
    """The templates of every stack of ``deployment``, by stack name, in deployment order."""
    templates = from_cdk_out(cdk_out, deployment) if cdk_out else synthesize(deployment)
    return {name: templates[name] for name in r.stack_names(deployment)}


class Unresolvable(Exception):
    """An intrinsic function the sandbox cannot evaluate."""


class Resolver:
    """Evaluates the intrinsic functions of one stack's template.

    ``refs`` and ``attributes`` hold what the created resources answer to ``Ref`` and
    ``Fn::GetAtt``; ``stack_outputs`` the outputs of stacks already created (for the
    CDK's cross-stack references, ``Fn::GetStackOutput``).
    """

    def __init__(self, stack: str, account: str, region: str,
                 stack_outputs: Mapping[str, Mapping[str, str]],
                 parameters: Mapping[str, Any] | None = None):
        self.pseudo = {"AWS::AccountId": account, "AWS::Region": region,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                       "AWS::StackName": stack, "AWS::NoValue": None,
                       "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/"
                                       "sandbox"}
        self.region = region
        self.stack_outputs = stack_outputs
        self.refs: dict[str, Any] = dict(parameters or {})
        self.attributes: dict[str, dict[str, Any]] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(v) for v in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::"):
                return self.function(key, arg)
        return {k: v for k, v in ((k, self(v)) for k, v in value.items()) if v is not None}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.refs:
            raise Unresolvable(f"Ref {name}")
        return self.refs[name]

    def function(self, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            try:
                return self.attributes[logical][attribute]
            except KeyError:
                raise Unresolvable(f"Fn::GetAtt {logical}.{attribute}") from None
        if name == "Fn::Join":
            sep, items = arg
            return sep.join(str(v) for v in self(items))
        if name == "Fn::Select":
            index, items = arg
            return self(items)[int(self(index))]
        if name == "Fn::Split":
            sep, text = arg
            return str(self(text)).split(sep)
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if name == "Fn::GetStackOutput":
            spec = self(arg)
            try:
                return self.stack_outputs[spec["StackName"]][spec["OutputName"]]
            except KeyError:
                raise Unresolvable(f"Fn::GetStackOutput {spec}") from None
        if name == "Fn::Sub":
            return self.sub(arg)
        raise Unresolvable(name)

    def sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            key = text[start + 2:end]
            if key.startswith("!"):
                out.append("${" + key[1:] + "}")
            elif key in names:
                out.append(str(names[key]))
            elif "." in key:
                out.append(str(self.function("Fn::GetAtt", key)))
            else:
                out.append(str(self.ref(key)))
            i = end + 1
        return "".join(out)


def references(value: Any) -> set[str]:
    """The logical ids a template fragment refers to with ``Ref`` or ``Fn::GetAtt``."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and not arg.startswith("AWS::"):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for part in text.split("${")[1:]:
                    name = part.split("}", 1)[0].split(".", 1)[0]
                    if not name.startswith(("AWS::", "!")):
                        found.add(name)
                if not isinstance(arg, str):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def creation_order(template: Mapping[str, Any]) -> list[str]:
    """The logical ids of a template's resources, each after those it refers to."""
    resources_ = template.get("Resources", {})
    deps = {}
    for logical, spec in resources_.items():
        needs = references(spec.get("Properties", {}))
        depends = spec.get("DependsOn", [])
        needs |= set([depends] if isinstance(depends, str) else depends)
        deps[logical] = {d for d in needs if d in resources_ and d != logical}
    order: list[str] = []
    done: set[str] = set()

    def visit(logical: str, path: tuple[str, ...] = ()) -> None:
        if logical in done or logical in path:
            return
        for dep in sorted(deps[logical]):
            visit(dep, path + (logical,))
        done.add(logical)
        order.append(logical)

    for logical in resources_:
        visit(logical)
    return order
