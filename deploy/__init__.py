"""Deploying the service: the container image (`deploy.image`) and HAProxy in front of replicas."""
