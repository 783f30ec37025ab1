"""Running the pipelines on the local kind cluster: the platform's services, seed data, Airflow
on the host, and what a run changed. Used by `make demo` (`python -m polyetl.demo`) and by the
end-to-end tests, so the demo and the tests drive the cluster the same way."""
