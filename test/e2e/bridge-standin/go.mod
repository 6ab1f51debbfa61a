module matrixkit.local/bridge-standin

go 1.26

require (
	github.com/gorilla/websocket v1.5.3
	github.com/lib/pq v1.10.9
	gopkg.in/yaml.v3 v3.0.1
)
