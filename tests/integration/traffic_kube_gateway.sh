#!/usr/bin/env bash
# traffic_kube_gateway: part 4 of traffic_kube.sh (see there), run as a
# program of its own so that the two run in parallel: an HTTPRoute's
# stable and canary backendRefs get the steps' weights, stay there after
# the promotion, go back at 100/0 on a rejection, and a route without the
# named backend fails the stage with a message naming it.
TRAFFIC_KUBE_PART=gateway exec bash "$(dirname "$0")/traffic_kube.sh"
