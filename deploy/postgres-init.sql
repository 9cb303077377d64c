-- One database per service (the services never share one).
CREATE DATABASE spotcheck_gateway;
CREATE DATABASE spotcheck_registry;
CREATE DATABASE spotcheck_sampling;
CREATE DATABASE spotcheck_scheduling;
