{{/*
Names, labels, images and shared pod pieces. Component templates call these with
(dict "root" $ "component" "<name>") so that every object carries the same labels.
*/}}

{{- define "tradestream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-tradestream", or the release name when it already contains the chart name.
Truncated to 40 characters so that "<fullname>-<component>-<ordinal>" stays a valid label. */}}
{{- define "tradestream.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tradestream.component" -}}
{{- printf "%s-%s" (include "tradestream.fullname" .root) .component }}
{{- end }}

{{- define "tradestream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tradestream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tradestream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "tradestream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tradestream
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod labels: the common labels, plus the marker that lets the pod reach Kafka's client
listener through the NetworkPolicy when .kafkaClient is true. */}}
{{- define "tradestream.podLabels" -}}
{{ include "tradestream.labels" . }}
{{- if .kafkaClient }}
tradestream.io/kafka-client: "true"
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "tradestream.image" -}}
{{- $img := .image -}}
{{- if $img.digest -}}
{{ printf "%s@%s" $img.repository $img.digest }}
{{- else -}}
{{ printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) }}
{{- end -}}
{{- end }}

{{/* A container's image and pull policy. */}}
{{- define "tradestream.imageFields" -}}
image: {{ include "tradestream.image" . | quote }}
imagePullPolicy: {{ .image.pullPolicy }}
{{- end }}

{{- define "tradestream.podSecurityContext" -}}
{{- $ctx := mergeOverwrite (deepCopy .root.Values.podSecurityContext) (deepCopy (.ctx | default dict)) -}}
{{- toYaml $ctx }}
{{- end }}

{{- define "tradestream.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Pod-level settings shared by every pod of the chart. */}}
{{- define "tradestream.podCommon" -}}
serviceAccountName: {{ include "tradestream.serviceAccountName" . }}
automountServiceAccountToken: false
# No Docker-link variables for every Service: a release named "tradestream" has a Service
# "tradestream-kafka", whose TRADESTREAM_KAFKA_PORT=tcp://... collided with TradeStream's own
# TRADESTREAM_* settings (pydantic refused it; found on a real install).
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- include "tradestream.podSecurityContext" (dict "root" .root "ctx" .securityContext) | nindent 2 }}
{{- end }}

{{- define "tradestream.serviceAccountName" -}}
{{- if .root.Values.serviceAccounts.create -}}
{{ include "tradestream.component" (dict "root" .root "component" .account) }}
{{- else -}}
default
{{- end -}}
{{- end }}

{{- define "tradestream.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{/* Kafka: the bootstrap servers every client uses. */}}
{{- define "tradestream.bootstrapServers" -}}
{{- if .Values.kafka.enabled -}}
{{ printf "%s:9092" (include "tradestream.component" (dict "root" . "component" "kafka")) }}
{{- else -}}
{{ required "externalKafka.bootstrapServers is required when kafka.enabled=false" .Values.externalKafka.bootstrapServers }}
{{- end -}}
{{- end }}

{{- define "tradestream.kafkaHeadless" -}}
{{ include "tradestream.component" (dict "root" . "component" "kafka-headless") }}
{{- end }}

{{/* KRaft cluster id: the value given, else 16 bytes derived from namespace/release,
base64url without padding (the form `kafka-storage.sh random-uuid` prints). */}}
{{- define "tradestream.kafkaClusterId" -}}
{{- if .Values.kafka.clusterId -}}
{{ .Values.kafka.clusterId }}
{{- else -}}
{{- $seed := printf "%s/%s/tradestream-kafka" .Release.Namespace .Release.Name | sha256sum | trunc 16 -}}
{{ $seed | b64enc | trimSuffix "==" | replace "+" "-" | replace "/" "_" }}
{{- end -}}
{{- end }}

{{/* Replication factor of the topics: topics.replicationFactor, else min(3, brokers). */}}
{{- define "tradestream.replicationFactor" -}}
{{- if .Values.topics.replicationFactor -}}
{{ .Values.topics.replicationFactor }}
{{- else if .Values.kafka.enabled -}}
{{ min 3 (int .Values.kafka.replicaCount) }}
{{- else -}}
3
{{- end -}}
{{- end }}

{{- define "tradestream.minInsyncReplicas" -}}
{{- if .Values.topics.minInsyncReplicas -}}
{{ .Values.topics.minInsyncReplicas }}
{{- else if ge (int (include "tradestream.replicationFactor" .)) 3 -}}
2
{{- else -}}
1
{{- end -}}
{{- end }}

{{/* Environment of every container running the Python image: Kafka and topics come from
here (tradestream/settings.py reads TRADESTREAM_*), local state goes to /tmp. */}}
{{- define "tradestream.pythonEnv" -}}
- name: TRADESTREAM_BOOTSTRAP_SERVERS
  value: {{ include "tradestream.bootstrapServers" . | quote }}
- name: TRADESTREAM_TRADES_TOPIC
  value: {{ .Values.topics.trades.name | quote }}
- name: TRADESTREAM_SIGNALS_TOPIC
  value: {{ .Values.topics.signals.name | quote }}
- name: TRADESTREAM_DLQ_TOPIC
  value: {{ .Values.topics.dlq.name | quote }}
- name: TRADESTREAM_STRATEGIES_TOPIC
  value: {{ .Values.topics.strategies.name | quote }}
- name: TRADESTREAM_BOOK_TOPIC
  value: {{ .Values.topics.book.name | quote }}
- name: TRADESTREAM_STATE_DIR
  value: /tmp/tradestream
- name: HOME
  value: /tmp
- name: PYTHONUNBUFFERED
  value: "1"
{{- include "tradestream.kafkaClientEnv" . }}
{{- end }}

{{/* TLS and SASL of TradeStream's Kafka clients (kafkaClient); nothing for PLAINTEXT. The
SASL credentials are secretKeyRefs: they never appear in a rendered manifest. */}}
{{- define "tradestream.kafkaClientEnv" -}}
{{- $c := .Values.kafkaClient }}
{{- if not (has $c.securityProtocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) }}
{{- fail "kafkaClient.securityProtocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL" }}
{{- end }}
{{- if ne $c.securityProtocol "PLAINTEXT" }}
- name: TRADESTREAM_KAFKA_SECURITY_PROTOCOL
  value: {{ $c.securityProtocol | quote }}
{{- end }}
{{- if hasPrefix "SASL_" $c.securityProtocol }}
{{- if not (has $c.saslMechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) }}
{{- fail "kafkaClient.saslMechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" }}
{{- end }}
{{- $secret := required "kafkaClient.saslSecret is required with a SASL_* kafkaClient.securityProtocol" $c.saslSecret }}
- name: TRADESTREAM_KAFKA_SASL_MECHANISM
  value: {{ $c.saslMechanism | quote }}
- name: TRADESTREAM_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $c.saslUsernameKey }}}
- name: TRADESTREAM_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $c.saslPasswordKey }}}
{{- end }}
{{- if hasSuffix "SSL" $c.securityProtocol }}
{{- with $c.sslCaFile }}
- name: TRADESTREAM_KAFKA_SSL_CAFILE
  value: {{ . | quote }}
{{- end }}
- name: TRADESTREAM_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $c.sslCheckHostname | quote }}
{{- end }}
{{- end }}

{{/* Init container: waits until Kafka answers and the given topics exist. */}}
{{- define "tradestream.waitForTopics" -}}
- name: wait-for-topics
  {{- include "tradestream.imageFields" (dict "root" .root "image" .root.Values.images.python) | nindent 2 }}
  command: ["python", "/opt/tradestream/scripts/wait_for_topics.py"]
  args:
    {{- range .topics }}
    - {{ . | quote }}
    {{- end }}
  env:
    {{- include "tradestream.pythonEnv" .root | nindent 4 }}
  securityContext:
    {{- include "tradestream.containerSecurityContext" .root | nindent 4 }}
  resources:
    {{- toYaml .root.Values.waitResources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: scripts
      mountPath: /opt/tradestream/scripts
      readOnly: true
{{- end }}

{{- define "tradestream.scriptsVolume" -}}
- name: scripts
  configMap:
    name: {{ include "tradestream.component" (dict "root" . "component" "scripts") }}
    defaultMode: 0555
{{- end }}

{{/* Preferred or required anti-affinity of a component's pods over nodes. */}}
{{- define "tradestream.antiAffinity" -}}
{{- if eq .mode "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "tradestream.selectorLabels" . | nindent 10 }}
{{- else if eq .mode "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tradestream.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end }}

{{/* The pod of a batch job (backtest, optimize): `tradestream <name> <args>` with a data
volume (an existing claim, else an emptyDir). */}}
{{- define "tradestream.batchPod" -}}
{{- $b := .values }}
metadata:
  labels:
    {{- include "tradestream.podLabels" .ctx | nindent 4 }}
spec:
  {{- include "tradestream.podCommon" (dict "root" .root "account" "app" "securityContext" .root.Values.pythonPodSecurityContext) | nindent 2 }}
  restartPolicy: Never
  {{- if and (eq .name "backtest") $b.generateSample }}
  initContainers:
    - name: sample
      {{- include "tradestream.imageFields" (dict "root" .root "image" .root.Values.images.python) | nindent 6 }}
      args: ["sample", "--output", {{ printf "%s/sample-trades.csv" $b.data.mountPath | quote }}]
      env:
        {{- include "tradestream.pythonEnv" .root | nindent 8 }}
      securityContext:
        {{- include "tradestream.containerSecurityContext" .root | nindent 8 }}
      resources:
        {{- toYaml $b.resources | nindent 8 }}
      volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: data, mountPath: {{ $b.data.mountPath }}}
  {{- end }}
  containers:
    - name: {{ .name }}
      {{- include "tradestream.imageFields" (dict "root" .root "image" .root.Values.images.python) | nindent 6 }}
      args:
        - {{ .name }}
        {{- range $b.args }}
        - {{ . | quote }}
        {{- end }}
      env:
        {{- include "tradestream.pythonEnv" .root | nindent 8 }}
      securityContext:
        {{- include "tradestream.containerSecurityContext" .root | nindent 8 }}
      resources:
        {{- toYaml $b.resources | nindent 8 }}
      volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: data, mountPath: {{ $b.data.mountPath }}}
  volumes:
    {{- include "tradestream.tmpVolume" .root | nindent 4 }}
    - name: data
      {{- if $b.data.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ $b.data.existingClaim }}
      {{- else }}
      emptyDir:
        sizeLimit: 2Gi
      {{- end }}
{{- end }}
