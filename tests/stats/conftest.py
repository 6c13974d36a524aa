import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture
def one_blas_thread():
    """Simulation loops of small matrix products run faster on one BLAS thread.

    On a busy two-core machine, BLAS threads wait for each other on every
    product; results are the same either way (see the thread-count tests).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
