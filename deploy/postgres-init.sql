-- One database per service (the services never share one).
CREATE DATABASE spotcheck_gateway;
CREATE DATABASE spotcheck_registry;
CREATE DATABASE spotcheck_sampling;
CREATE DATABASE spotcheck_scheduling;
CREATE DATABASE spotcheck_inspection;
CREATE DATABASE spotcheck_rectification;
CREATE DATABASE spotcheck_disclosure;
CREATE DATABASE spotcheck_risk;
