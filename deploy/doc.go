// Package deploy holds the deployment files of invitesvc: the Dockerfile, the compose
// file, the Kubernetes manifests and local-cluster.sh (see README.md here). It has no
// code; its test brings the local cluster up and checks the deployment end to end.
package deploy
