"""An offline sandbox of the AWS backend: moto on loopback plus local stand-ins.

``Sandbox`` starts a moto server in this process, creates a deployment's resources in it
from the CDK app's templates (:mod:`skyrun.sandbox.provision`), and runs what moto does
not: the workers of submitted Batch jobs (:mod:`skyrun.sandbox.batch`) and of Lambda
invocations (:mod:`skyrun.sandbox.lambda_workers`), the image builds of CodeBuild
(:mod:`skyrun.sandbox.codebuild`), and the Lambda handlers on their events and schedules
(:mod:`skyrun.sandbox.events`)::

    with Sandbox() as sandbox:
        os.environ.update(sandbox.environment)   # SKYRUN_BACKEND=aws, AWS_ENDPOINT_URL, ...
        ...

``skyrun sandbox`` runs one until interrupted. See docs/sandbox.md.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from skyrun.backends.aws import resources as r
from skyrun.sandbox.batch import BatchStandIn
from skyrun.sandbox.codebuild import CodeBuildStandIn
from skyrun.sandbox.events import Lambdas
from skyrun.sandbox.faults import parse as parse_faults
from skyrun.sandbox.lambda_workers import LambdaStandIn
from skyrun.sandbox.provision import Deployed, Provisioner
from skyrun.sandbox.server import ACCOUNT_ID, REGION, SandboxServer

__all__ = ["Sandbox"]


class Sandbox:
    """A deployment on a local moto server, with the stand-ins that make it run.

    ``deployment`` names the stacks (``SKYRUN_STACK``); ``home`` keeps the built
    environments, worker output and bundles (a temporary directory, removed on stop, if
    not given); ``cdk_out`` takes the templates from a ``cdk synth`` output instead of
    synthesizing the app. ``batch``, ``codebuild`` and ``schedules`` turn the stand-ins
    off, for tests of the parts they would otherwise drive; ``schedule_seconds`` replaces
    the period of the schedule rules (the reconciler's minute). ``lambda_workers`` turns
    off the stand-in that runs Lambda invocations; ``lambda_seconds`` gives every
    invocation that much time instead of its function's timeout (a short budget shows
    the worker's time rule at work). ``environment`` adds
    variables to every process the sandbox starts (workers, handlers), such as
    ``SKYRUN_WORKER_IDLE_SECONDS``; they are not part of :attr:`environment`.
    ``faults`` makes a share of the deployment's AWS requests fail as AWS fails
    (a spec of :mod:`skyrun.sandbox.faults`, e.g. ``"throttle=0.05,5xx=0.02"``);
    :meth:`injected_faults` changes it for a while.
    """

    def __init__(self, deployment: str = r.DEFAULT_DEPLOYMENT, home: str | Path | None = None,
                 cdk_out: str | Path | None = None, *, batch: bool = True,
                 codebuild: bool = True, schedules: bool = True,
                 schedule_seconds: float | None = None,
                 environment: dict[str, str] | None = None, faults: str | None = None,
                 lambda_workers: bool = True, lambda_seconds: float | None = None):
        self.deployment = r.validate_deployment_name(deployment)
        self.faults = str(parse_faults(faults)) or None  # a bad spec fails here
        self._own_home = home is None
        self.home = Path(home) if home else None
        self.cdk_out = cdk_out
        self.options = {"batch": batch, "codebuild": codebuild, "schedules": schedules,
                        "lambda_workers": lambda_workers}
        self.lambda_seconds = lambda_seconds
        self.schedule_seconds = schedule_seconds
        self.extra_environment = dict(environment or {})
        self.server: SandboxServer | None = None
        self.deployed: Deployed | None = None
        self.lambdas: Lambdas | None = None
        self.batch: BatchStandIn | None = None
        self.codebuild: CodeBuildStandIn | None = None
        self.lambda_workers: LambdaStandIn | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start the server, provision the deployment, start the stand-ins."""
        from skyrun.sandbox import templates

        if self.home is None:
            self.home = Path(tempfile.mkdtemp(prefix="skyrun-sandbox-"))
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            stacks = templates.load(self.deployment, self.cdk_out)
            self.server = SandboxServer(faults=self.faults).start()
            self.deployed = Provisioner(self.client, ACCOUNT_ID, REGION).deploy(stacks)
            outputs = self.outputs
            self.lambdas = Lambdas(self.deployed, {**self.environment, **self.extra_environment},
                                   self.schedule_seconds)
            if self.options["schedules"]:
                self.lambdas.start()
            if self.options["batch"]:
                queues = list(dict.fromkeys([outputs[r.JOB_QUEUE_ARN],
                                             outputs[r.ON_DEMAND_JOB_QUEUE_ARN]]))
                self.batch = BatchStandIn(self.client, queues,
                                          {**self.server.environment(), **self.extra_environment},
                                          self.home, outputs[r.REPOSITORY_NAME],
                                          self.server.events)
                self.batch.start()
            if self.options["lambda_workers"] and outputs.get(r.LAMBDA_TARGET) == "true":
                self.lambda_workers = LambdaStandIn(
                    self.client, self.server.events,
                    {**self.server.environment(), **self.extra_environment}, self.home,
                    outputs[r.REPOSITORY_NAME], budget=self.lambda_seconds)
                self.lambda_workers.start()
            if self.options["codebuild"]:
                self.codebuild = CodeBuildStandIn(
                    self.client, outputs[r.BUILD_PROJECT_NAME], outputs[r.REPOSITORY_NAME],
                    self.home, self.lambdas.emit, self.server.events)
                self.codebuild.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the stand-ins (killing every worker and handler), then the server."""
        for part in (self.codebuild, self.batch, self.lambda_workers, self.lambdas):
            if part is not None:
                part.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._own_home and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what it offers -----------------------------------------------------------------
    _NOT_RUNNING = "the sandbox is not running: call start() or use it in a with block"

    def _running(self) -> SandboxServer:
        if self.server is None:
            raise RuntimeError(self._NOT_RUNNING)
        return self.server

    @property
    def outputs(self) -> dict[str, str]:
        """The deployment's stack outputs, by output key."""
        if self.deployed is None:
            raise RuntimeError(self._NOT_RUNNING)
        return dict(self.deployed.outputs)

    @property
    def environment(self) -> dict[str, str]:
        """The variables that point the SDK at this sandbox: the endpoint, region and fake
        credentials, ``SKYRUN_BACKEND=aws``, ``SKYRUN_STACK`` and every output."""
        env = self._running().environment()
        env.update({"SKYRUN_BACKEND": "aws", r.DEPLOYMENT_VARIABLE: self.deployment})
        env.update({r.environment_variable(k): v for k, v in self.outputs.items()})
        return env

    def client(self, service: str):
        """A boto3 client of the sandbox's moto server (spared by injected faults)."""
        return self._running().client(service)

    def set_faults(self, spec: str | None) -> dict:
        """Make a share of requests fail from now on (None: none); resets the counts."""
        report = self._running().set_faults(spec)
        self.faults = spec or None
        return report

    def fault_report(self) -> dict:
        """The fault spec in force and the faults injected since it was set: ``requests``
        seen, ``injected`` by kind, ``by_operation`` by ``"kind service.Operation"``."""
        return self._running().fault_report()

    @contextmanager
    def injected_faults(self, spec: str):
        """Inject ``spec``'s faults inside the block, then the sandbox's own again;
        yields a callable that returns the report of the block's faults."""
        before = self.faults
        self.set_faults(spec)
        try:
            yield self.fault_report
        finally:
            self.set_faults(before)

    def write_env_file(self, path: str | Path) -> Path:
        """Write :attr:`environment` as ``KEY=VALUE`` lines (readable by ``set -a; .``,
        docker's ``--env-file`` and python-dotenv)."""
        path = Path(path)
        path.write_text("".join(f"{k}={v}\n" for k, v in sorted(self.environment.items())))
        return path
