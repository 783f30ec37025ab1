"""Driving the platform on the local kind cluster: its services, seed data, Airflow, and what a
run changed. Used by `make demo` (`python -m platform_driver.demo`), the end-to-end tests and
`make bench-pods`, so they drive the cluster the same way. Development only: not in the wheel
Airflow's image installs."""
