"""The build specification of the image build project.

One CodeBuild project builds both kinds of image; the ``SKYRUN_BUILD_KIND`` variable a
StartBuild call overrides chooses which (see the ``BUILD_*`` names in
:mod:`skyrun.backends.aws.resources`):

* ``base``: for each version in ``SKYRUN_PYTHON_VERSIONS``, build ``runtime/Dockerfile``
  from the source tree and push it as ``python3.X``;
* ``function``: build an image FROM the base image of ``SKYRUN_PYTHON_VERSION`` (building
  that first if the repository lacks it, so a function build never waits on the deploy
  time base build) with the ``requirements.txt`` at ``SKYRUN_REQUIREMENTS_URI`` installed,
  and push it as ``SKYRUN_IMAGE_TAG``.
"""

from __future__ import annotations

from typing import Any

from skyrun.backends.aws import resources as r

REPOSITORY_URI = "REPOSITORY_URI"

# A single command, so the shell function and `set -eu` hold for the whole build.
_SCRIPT = f"""\
set -eu
registry="${{{REPOSITORY_URI}%%/*}}"
aws ecr get-login-password --region "$AWS_DEFAULT_REGION" \\
  | docker login --username AWS --password-stdin "$registry"
build_base() {{
  echo "Building the base image for Python $1"
  docker build -f runtime/Dockerfile --build-arg "PYTHON_VERSION=$1" \\
    -t "${REPOSITORY_URI}:{r.base_image_tag("$1")}" .
  docker push "${REPOSITORY_URI}:{r.base_image_tag("$1")}"
}}
case "${r.BUILD_KIND}" in
  {r.BUILD_KIND_BASE})
    for version in ${r.BUILD_PYTHON_VERSIONS}; do build_base "$version"; done
    ;;
  {r.BUILD_KIND_FUNCTION})
    base="${REPOSITORY_URI}:{r.base_image_tag("$" + r.BUILD_PYTHON_VERSION)}"
    docker pull "$base" || build_base "${r.BUILD_PYTHON_VERSION}"
    mkdir -p /tmp/function && cd /tmp/function
    if [ -n "${{{r.BUILD_REQUIREMENTS_URI}:-}}" ]; then
      aws s3 cp "${r.BUILD_REQUIREMENTS_URI}" requirements.txt
    else
      : > requirements.txt
    fi
    printf '%s\\n' "FROM $base" "USER root" "COPY requirements.txt /tmp/requirements.txt" \\
      "RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt" \\
      "USER skyrun" > Dockerfile
    echo "Installing the requirements:" && cat requirements.txt
    docker build -t "${REPOSITORY_URI}:${r.BUILD_IMAGE_TAG}" .
    docker push "${REPOSITORY_URI}:${r.BUILD_IMAGE_TAG}"
    ;;
  *)
    echo "Unknown {r.BUILD_KIND} '${r.BUILD_KIND}'; expected base or function" >&2
    exit 2
    ;;
esac
"""


def build_spec() -> dict[str, Any]:
    """The buildspec (version 0.2) as a dict, for ``BuildSpec.from_object``."""
    return {
        "version": "0.2",
        "env": {"shell": "bash"},
        "phases": {"build": {"commands": [_SCRIPT]}},
    }
