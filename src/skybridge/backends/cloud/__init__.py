"""Cloud SDK glue shared by the backend families.

:mod:`skybridge.backends.cloud.oci` resolves OCI credentials, builds OCI clients and classifies
``oci`` errors; :mod:`skybridge.backends.cloud.aws` builds boto3 clients and classifies botocore
errors. Each module imports its SDK, so import it only from a backend module of that cloud.
"""
