{{/* Chart name, truncated to the 63 characters DNS names allow. */}}
{{- define "hgp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified base name of every object. */}}
{{- define "hgp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: (dict "root" $ "name" "counter") */}}
{{- define "hgp.componentName" -}}
{{- printf "%s-%s" (include "hgp.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "hgp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "hgp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: highgopress
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels selecting one component's pods: (dict "root" $ "name" "counter") */}}
{{- define "hgp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hgp.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* All labels of one component's objects. */}}
{{- define "hgp.componentLabels" -}}
{{ include "hgp.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* The HighGoPress image reference. */}}
{{- define "hgp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Fully-qualified DNS name of a Service: (dict "root" $ "svc" "<name>") */}}
{{- define "hgp.svcFQDN" -}}
{{- printf "%s.%s.svc.%s" .svc .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{/* Secret holding redis-password and api-keys. */}}
{{- define "hgp.secretName" -}}
{{- default (printf "%s-secrets" (include "hgp.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* ServiceAccount of the workloads that need no Kubernetes API access. */}}
{{- define "hgp.workloadServiceAccount" -}}
{{- printf "%s-workload" (include "hgp.fullname" .) -}}
{{- end -}}

{{/* Cluster mode: host:port of every Redis node (the services discover the cluster from them). */}}
{{- define "hgp.redisClusterNodes" -}}
{{- if .Values.redis.enabled -}}
{{- $fn := include "hgp.fullname" . -}}
{{- $svc := include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-redis-headless" $fn)) -}}
{{- $nodes := list -}}
{{- range $i := until (int (include "hgp.redisClusterSize" .)) -}}
{{- $nodes = append $nodes (printf "%s-redis-%d.%s:6379" $fn $i $svc) -}}
{{- end -}}
{{- join "," $nodes -}}
{{- else -}}
{{- required "redis.external.clusterNodes is required when redis.enabled is false and redis.mode is cluster" .Values.redis.external.clusterNodes -}}
{{- end -}}
{{- end -}}

{{/*
An installed release keeps its Redis mode: the two StatefulSets share a name
and differ in fields Kubernetes never changes in place, and the data has to
be moved (tools/redis-to-cluster.ts) before the services point elsewhere.
Refused before anything is changed, not halfway through an upgrade. The
cluster's StatefulSet manages its pods in parallel, the standalone one not.
*/}}
{{- define "hgp.redisModeGuard" -}}
{{- if .Values.redis.enabled }}
{{- $sts := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "hgp.componentName" (dict "root" . "name" "redis")) }}
{{- if $sts }}
{{- $installed := ternary "cluster" "standalone" (eq ($sts.spec.podManagementPolicy | default "") "Parallel") }}
{{- if ne $installed .Values.redis.mode }}
{{- fail (printf "redis.mode is %s but this release runs Redis in %s mode: a release keeps its mode. Install a new release with redis.mode=%s and move the data into it (README, \"Redis Cluster\")" .Values.redis.mode $installed .Values.redis.mode) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "hgp.redisClusterSize" -}}
{{- mul .Values.redis.cluster.primaries (add1 .Values.redis.cluster.replicasPerPrimary) -}}
{{- end -}}

{{/* Where things are: bundled dependency or the external address. */}}
{{- define "hgp.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:6379" (include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-redis" (include "hgp.fullname" .)))) -}}
{{- else -}}
{{- required "redis.external.url is required when redis.enabled is false" .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{- define "hgp.kafkaBrokers" -}}
{{- if .Values.kafka.enabled -}}
{{- $fn := include "hgp.fullname" . -}}
{{- printf "%s-kafka-0.%s:9092" $fn (include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-kafka-headless" $fn))) -}}
{{- else -}}
{{- required "kafka.external.brokers is required when kafka.enabled is false" .Values.kafka.external.brokers -}}
{{- end -}}
{{- end -}}

{{- define "hgp.prometheusUrl" -}}
{{- if .Values.prometheus.enabled -}}
{{- printf "http://%s:9090" (include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-prometheus" (include "hgp.fullname" .)))) -}}
{{- else -}}
{{- .Values.prometheus.external.url -}}
{{- end -}}
{{- end -}}

{{- define "hgp.otlpEndpoint" -}}
{{- if .Values.jaeger.enabled -}}
{{- printf "http://%s:4318" (include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-jaeger" (include "hgp.fullname" .)))) -}}
{{- else -}}
{{- .Values.jaeger.external.otlpEndpoint -}}
{{- end -}}
{{- end -}}

{{- define "hgp.jaegerQueryUrl" -}}
{{- if .Values.jaeger.enabled -}}
{{- printf "http://%s:16686" (include "hgp.svcFQDN" (dict "root" . "svc" (printf "%s-jaeger" (include "hgp.fullname" .)))) -}}
{{- else -}}
{{- .Values.jaeger.external.queryUrl -}}
{{- end -}}
{{- end -}}

{{/*
Host:port pairs a component's init container waits for (comma list), from
"host:port" of a redis:// URL and the Kafka broker list.
*/}}
{{- define "hgp.redisHostPort" -}}
{{- if eq .Values.redis.mode "cluster" -}}
{{- first (splitList "," (include "hgp.redisClusterNodes" .)) -}}
{{- else -}}
{{- $u := urlParse (include "hgp.redisUrl" .) -}}
{{- $host := $u.host -}}
{{- if not (contains ":" $host) -}}{{- $host = printf "%s:6379" $host -}}{{- end -}}
{{- $host -}}
{{- end -}}
{{- end -}}

{{/* Container securityContext for a dependency: the common rules plus its user. */}}
{{- define "hgp.depContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .podSecurityContext.runAsUser }}
{{- with .podSecurityContext.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Scheduling fields shared by every pod: nodeSelector, tolerations, affinity, spread. */}}
{{- define "hgp.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A persistent volume claim template or an emptyDir, for dependency data. */}}
{{/*
A dependency's own PersistentVolumeClaim (Prometheus, Grafana); kept by
`helm uninstall` when persistence.keepOnUninstall is set.
*/}}
{{- define "hgp.persistentVolumeClaim" -}}
{{- $root := .ctx.root }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "hgp.componentLabels" .ctx | nindent 4 }}
  {{- if .persistence.keepOnUninstall }}
  annotations:
    helm.sh/resource-policy: keep
  {{- end }}
spec:
  accessModes: [ReadWriteOnce]
  {{- with .persistence.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ .persistence.size }}
{{- end -}}

{{/*
What happens to a StatefulSet's claims (Redis, Kafka) on `helm uninstall`,
which deletes the StatefulSet: kept unless persistence.keepOnUninstall is false.
*/}}
{{- define "hgp.claimRetention" -}}
persistentVolumeClaimRetentionPolicy:
  whenDeleted: {{ ternary "Retain" "Delete" (ne .persistence.keepOnUninstall false) }}
  whenScaled: Retain
{{- end -}}

{{- define "hgp.volumeClaimTemplate" -}}
- metadata:
    name: data
  spec:
    accessModes: [ReadWriteOnce]
    {{- with .persistence.storageClass }}
    storageClassName: {{ . | quote }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size }}
{{- end -}}

{{/*
Checks of values that JSON schema cannot express.
*/}}
{{- define "hgp.validate" -}}
{{- range $name, $c := .Values.components }}
{{- if $c.enabled }}
{{- $drain := add $c.preStopSleepSeconds (div (int $.Values.config.shutdownGraceMs) 1000) }}
{{- if le (int $c.terminationGracePeriodSeconds) (int $drain) }}
{{- fail (printf "components.%s.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.shutdownGraceMs/1000 (%d), or pods are killed before they finish draining" $name (int $c.terminationGracePeriodSeconds) (int $drain)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.counterAutoscaler.enabled (not .Values.components.counter.enabled) }}
{{- fail "counterAutoscaler.enabled needs components.counter.enabled: the example CounterAutoscaler scales the counter Deployment" }}
{{- end }}
{{- if and (eq .Values.redis.mode "cluster") .Values.redis.enabled (lt (int .Values.redis.cluster.replicasPerPrimary) (int .Values.redis.cluster.waitReplicas)) }}
{{- fail (printf "redis.cluster.waitReplicas (%d) cannot exceed redis.cluster.replicasPerPrimary (%d): every write would wait for replicas that do not exist" (int .Values.redis.cluster.waitReplicas) (int .Values.redis.cluster.replicasPerPrimary)) }}
{{- end }}
{{- if and .Values.components.autoscaler.enabled (not .Values.prometheus.enabled) (not .Values.prometheus.external.url) }}
{{- fail "the autoscaler reads QPS from Prometheus: set prometheus.enabled or prometheus.external.url" }}
{{- end }}
{{- end -}}
