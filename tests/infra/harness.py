"""Runs the Pulumi program once under ``pulumi.runtime.set_mocks`` for one stack file.

Each test module calls :func:`run_stack` from a module-scoped fixture: a fresh event loop,
fresh mocks and fresh config per stack keep several stacks apart in one pytest process.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Resource:
    """The shape pulumi-policy's PolicyResource gives the invariants (+ depends_on names)."""

    resource_type: str
    name: str
    props: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    # As pulumi-policy gives them: input property -> the resources it was built from.
    property_dependencies: dict[str, list[Resource]] = field(default_factory=dict)


@dataclass
class StackRun:
    stack: str
    config: dict[str, Any]
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    provider_inputs: list[dict[str, Any]] = field(default_factory=list)
    # Stack name -> its outputs, answered to the program's StackReferences.
    references: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.resource_type == resource_type]

    def k8s(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        found = [
            r.props
            for r in self.resources
            if r.resource_type.startswith("kubernetes:") and r.props.get("kind") == kind
        ]
        return [p for p in found if name is None or p["metadata"]["name"] == name]


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's ``config:`` block, keys as Pulumi stores them (``ns:key``)."""
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def _pulumi_value(value: Any) -> str:
    """Config reaches a program as strings, structured values JSON-encoded."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


class _Monitor(MockMonitor):
    """Also records each registration's explicit dependencies (MockResourceArgs drops them)."""

    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, list[str]] = {}
        self.property_dependencies: dict[tuple[str, str], dict[str, list[tuple[str, str]]]] = {}

    def RegisterResource(self, request):
        self.dependencies[request.name] = [urn.rsplit("::", 1)[-1] for urn in request.dependencies]
        self.property_dependencies[(request.type, request.name)] = {
            prop: [_type_and_name(urn) for urn in deps.urns]
            for prop, deps in request.propertyDependencies.items()
        }
        return super().RegisterResource(request)


def _type_and_name(urn: str) -> tuple[str, str]:
    """``urn:pulumi:<stack>::<project>::<parent types$>type::name`` -> (type, name)."""
    _, _, qualified, name = urn.split("::", 3)
    return qualified.rsplit("$", 1)[-1], name


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, run: StackRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        name = args.name
        if args.typ.startswith("aws:"):
            state.setdefault("arn", f"arn:aws:mock:::{args.typ.split(':')[-1]}/{name}")
        if args.typ == "aws:iam/role:Role":
            state.setdefault("name", f"{name}-role-name")
        if args.typ == "aws:eks/cluster:Cluster":
            state.setdefault("name", name)
            state.update(
                endpoint=f"https://{name}.eks.example",
                certificateAuthority={"data": "Q0E="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.example/id/{name}"}]}],
            )
        if args.typ == "aws:eks/nodeGroup:NodeGroup":
            state.setdefault("nodeGroupName", name)
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]
        if args.typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            state["versionId"] = "v1"
        if args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
        if args.typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"123456789012.dkr.ecr.example/{state.get('name')}"
        if args.typ == "kubernetes:core/v1:Service" and state["spec"].get("type") == "LoadBalancer":
            state["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{name}.elb.example"}]}}
        if args.typ == "pulumi:pulumi:StackReference":
            referenced = state["name"]
            if referenced not in self.run.references:
                raise AssertionError(f"the test gives no outputs for stack {referenced}")
            state.update(outputs=self.run.references[referenced], secretOutputNames=[])
            # pulumi-policy lists read resources too: the invariants may read it.
            self.run.resources.append(Resource(args.typ, name, _ints(state)))
            return f"{name}-id", state
        if args.typ == "pulumi:providers:aws":
            self.run.provider_inputs.append(dict(args.inputs))
        if args.custom and not args.typ.startswith("pulumi:providers:"):
            self.run.resources.append(Resource(args.typ, name, _ints(state)))
        return f"{name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise AssertionError(f"the program must not call invokes under test: {args.token}")


def _ints(value: Any) -> Any:
    """Mocks turn every number into a float; whole ones go back to int for schema checks."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


@functools.cache
def shared_run(stack: str) -> StackRun:
    """One run of a stack file per test session, for modules that only read it (the
    mock run is the slow part; tests that change resources deep-copy them first).
    ``prod-dr`` reads the outputs of the mocked ``prod`` run through its StackReference."""
    if stack == "prod-dr":
        primary = stack_config(stack)["recdrill:primary_stack"]
        return run_stack(stack, references={primary: shared_run("prod").outputs})
    return run_stack(stack)


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    references: dict[str, dict[str, Any]] | None = None,
) -> StackRun:
    config = {**stack_config(stack), **(overrides or {})}
    run = StackRun(stack, config, references=dict(references or {}))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The mock monitor answers from executor threads and gives each its own event loop;
    # create those here so they can be closed (else: ResourceWarning, an error in tests).
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def thread_loop() -> None:
        thread_loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(thread_loops[-1])

    loop.set_default_executor(ThreadPoolExecutor(max_workers=4, initializer=thread_loop))
    try:
        monitor = _Monitor(_Mocks(run))
        pulumi.runtime.set_mocks(
            monitor.mocks, project="recdrill", stack=stack, preview=False, monitor=monitor
        )
        runtime_config.set_all_config({k: _pulumi_value(v) for k, v in config.items()})
        program = importlib.import_module("infra.__main__")
        exported: dict[str, Any] = {}

        def capture(key: str, value: Any) -> None:
            exported[key] = value

        original = pulumi.export
        pulumi.export = capture
        try:
            program.main()
        finally:
            pulumi.export = original
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        outputs = {k: _resolve(v) for k, v in exported.items()}
        run.outputs = {k: loop.run_until_complete(v) for k, v in outputs.items()}
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        # Names repeat across types (a subnet and its route table association).
        by_key = {(r.resource_type, r.name): r for r in run.resources}
        for resource in run.resources:
            resource.depends_on = monitor.dependencies.get(resource.name, [])
            links = monitor.property_dependencies.get((resource.resource_type, resource.name), {})
            resource.property_dependencies = {
                prop: [by_key[key] for key in keys if key in by_key] for prop, keys in links.items()
            }
    finally:
        settings.reset_options()
        runtime_config.set_all_config({})
        loop.run_until_complete(loop.shutdown_default_executor())
        for worker_loop in thread_loops:
            worker_loop.close()
        loop.close()
        # Leave asyncio as a fresh process would have it for the rest of the suite.
        asyncio.set_event_loop_policy(None)
    return run


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    return _ints(await output.future())
