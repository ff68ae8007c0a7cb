"""skyrun: batch compute for Python on your own AWS account, or on one machine.

The SDK mirrors the Descartes Labs Compute API: replace ``descarteslabs`` with
``skyrun`` in the imports of a script written for that service.
"""

__version__ = "0.1.0"
