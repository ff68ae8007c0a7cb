"""Images: which Python a Function's jobs run on."""

from __future__ import annotations

import sys

import pytest

from skyrun.compute import Function, FunctionStatus, JobStatus
from skyrun.exceptions import ValidationError
from tests.environment_support import OTHER_PYTHON

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def version():
    import sys

    return [f"{sys.version_info[0]}.{sys.version_info[1]}", sys.executable]


@pytest.mark.parametrize("image", [f"python{RUNNING}:latest", f"python{RUNNING}"])
def test_running_version_with_or_without_tag(image):
    fn = Function(version, image=image)
    job = fn()
    assert fn.image == image and fn.status == FunctionStatus.READY
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, job.log()
    assert job.result()[0] == RUNNING


@pytest.mark.parametrize("image", ["python3", "python:3.11", "python3.11:slim", "ubuntu"])
def test_malformed_image(image):
    with pytest.raises(ValidationError, match=r"image: must be python<major>\.<minor>\[:latest\]"):
        Function(version, image=image).save()


def test_callable_needs_the_running_minor_version():
    fn = Function(version, image=f"python{OTHER_PYTHON}:latest")
    with pytest.raises(ValidationError) as info:
        fn.save()
    message = str(info.value)
    assert message.startswith("image: ")
    assert f"Python {OTHER_PYTHON}" in message and f"Python {RUNNING}" in message
    assert Function.search().count() == 0






