{{/*
Helpers shared by every template. Names, labels, the rendered config file and the pieces of
pod spec (security, volumes, env) that every AutoPhon pod repeats live here and nowhere else.
*/}}

{{/* Chart name, overridable. */}}
{{- define "autophon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters (the DNS-1123 label limit). When the release
name already contains the chart name it is used as is.
*/}}
{{- define "autophon.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one of the release's objects: "<fullname>-<suffix>", still at most 63 characters.
Usage: include "autophon.componentName" (dict "ctx" $ "suffix" "api")
*/}}
{{- define "autophon.componentName" -}}
{{- printf "%s-%s" (include "autophon.fullname" .ctx) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "autophon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespace of every object (namespaceOverride for umbrella charts). */}}
{{- define "autophon.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. Templates add app.kubernetes.io/component after it. */}}
{{- define "autophon.labels" -}}
helm.sh/chart: {{ include "autophon.chart" . }}
{{ include "autophon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: autophon
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades, so no version and no helm.sh/chart. */}}
{{- define "autophon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "autophon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Service account of the API, the upload worker, the migrations and the alignment Jobs. */}}
{{- define "autophon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "autophon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Service account of the controller: the only one with a token and an API role. */}}
{{- define "autophon.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "autophon.componentName" (dict "ctx" . "suffix" "controller")) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An AutoPhon image reference; the tag falls back to image.tag, then to the chart's appVersion.
Usage: include "autophon.image" (dict "ctx" $ "image" .Values.image.upload)
*/}}
{{- define "autophon.image" -}}
{{- $tag := .image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion }}
{{- printf "%s:%s" .image.repository (toString $tag) }}
{{- end }}

{{/* The ConfigMap that holds autophon.yaml (mounted by every pod, Job pods included). */}}
{{- define "autophon.configMapName" -}}
{{- include "autophon.componentName" (dict "ctx" . "suffix" "config") }}
{{- end }}

{{/* The shared volume's claim: persistence.existingClaim or the one the chart creates. */}}
{{- define "autophon.pvcName" -}}
{{- if .Values.persistence.existingClaim }}
{{- .Values.persistence.existingClaim }}
{{- else }}
{{- include "autophon.componentName" (dict "ctx" . "suffix" "data") }}
{{- end }}
{{- end }}

{{/* Where the config file and the shared volume are mounted (the same in every pod). */}}
{{- define "autophon.configMountPath" -}}
{{- dig "controller" "kubernetes" "config_mount_path" "/etc/autophon" .Values.config }}
{{- end }}

{{- define "autophon.configPath" -}}
{{- printf "%s/autophon.yaml" (include "autophon.configMountPath" . | trimSuffix "/") }}
{{- end }}

{{- define "autophon.dataMountPath" -}}
{{- dig "controller" "kubernetes" "data_mount_path" "/data" .Values.config }}
{{- end }}

{{/* Ports, read from the config file so the chart and the processes agree. */}}
{{- define "autophon.api.port" -}}
{{- dig "api" "port" 8000 .Values.config | int }}
{{- end }}

{{/* "" when the upload worker serves no metrics (config.upload_worker.metrics_port unset). */}}
{{- define "autophon.uploadWorker.metricsPort" -}}
{{- with (dig "upload_worker" "metrics_port" nil .Values.config) }}{{ . | int }}{{ end }}
{{- end }}

{{- define "autophon.controller.metricsPort" -}}
{{- with (dig "controller" "metrics_port" nil .Values.config) }}{{ . | int }}{{ end }}
{{- end }}

{{/* Bundled PostgreSQL: Service and StatefulSet name. */}}
{{- define "autophon.postgresql.fullname" -}}
{{- include "autophon.componentName" (dict "ctx" . "suffix" "postgresql") }}
{{- end }}

{{/*
The Secret holding the database password, "" when there is none (external database whose URL
needs no password). The bundled PostgreSQL always has one.
*/}}
{{- define "autophon.db.secretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else if or .Values.database.postgresql.enabled .Values.database.password }}
{{- include "autophon.componentName" (dict "ctx" . "suffix" "db") }}
{{- end }}
{{- end }}

{{/* True ("true") when the chart itself creates the password Secret. */}}
{{- define "autophon.db.createSecret" -}}
{{- if and (not .Values.database.existingSecret) (or .Values.database.postgresql.enabled .Values.database.password) }}true{{ end }}
{{- end }}

{{- define "autophon.db.secretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretPasswordKey }}
{{- else }}
{{- print "password" }}
{{- end }}
{{- end }}

{{/* Env var carrying the password; its name is written to config.database.password_env. */}}
{{- define "autophon.db.passwordEnv" -}}
{{- dig "database" "password_env" "" .Values.config | default "AUTOPHON_DB_PASSWORD" }}
{{- end }}

{{/* Env var carrying the API bearer tokens; written to config.api.tokens_env. */}}
{{- define "autophon.api.tokensEnv" -}}
{{- dig "api" "tokens_env" "" .Values.config | default "AUTOPHON_API_TOKENS" }}
{{- end }}

{{/*
The config file, autophon.yaml: values.config verbatim, plus the keys the chart owns because
they name the release's own objects (see the README, "How values become the config file").
*/}}
{{- define "autophon.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $jobLabels := mergeOverwrite (deepCopy (dig "controller" "kubernetes" "labels" dict $config)) (dict "app.kubernetes.io/instance" .Release.Name) }}
{{- $kubernetes := dict
  "namespace" (include "autophon.namespace" .)
  "pvc_name" (include "autophon.pvcName" .)
  "config_map_name" (include "autophon.configMapName" .)
  "service_account_name" (include "autophon.serviceAccountName" .)
  "labels" $jobLabels }}
{{- $owned := dict
  "storage" (dict "root" (include "autophon.dataMountPath" .))
  "controller" (dict "launcher" "kubernetes" "kubernetes" $kubernetes) }}
{{- $database := dict }}
{{- if .Values.database.postgresql.enabled }}
{{- $pg := .Values.database.postgresql }}
{{- $_ := set $database "url" (printf "postgresql+psycopg2://%s@%s:%d/%s" $pg.username (include "autophon.postgresql.fullname" .) (int $pg.service.port) $pg.database) }}
{{- else if not (dig "database" "url" "" $config) }}
{{- fail "config.database.url is required when database.postgresql.enabled is false (e.g. postgresql+psycopg2://autophon@db.example.org:5432/autophon; the password goes in a Secret, see database.existingSecret)" }}
{{- else if hasPrefix "sqlite" (dig "database" "url" "" $config) }}
{{- fail "config.database.url must point at PostgreSQL on Kubernetes: SQLite cannot be shared between pods" }}
{{- end }}
{{- if include "autophon.db.secretName" . }}
{{- $_ := set $database "password_env" (include "autophon.db.passwordEnv" .) }}
{{- end }}
{{- if $database }}
{{- $_ := set $owned "database" $database }}
{{- end }}
{{- if .Values.api.auth.existingSecret }}
{{- $_ := set $owned "api" (dict "tokens_env" (include "autophon.api.tokensEnv" .)) }}
{{- end }}
{{- toYaml (mergeOverwrite $config $owned) }}
{{- end }}

{{/* Pod annotation that rolls the pods when the config file changes. */}}
{{- define "autophon.checksumConfig" -}}
checksum/config: {{ include "autophon.config" . | sha256sum }}
{{- end }}

{{/*
Env vars of a container: secrets only (the config file says which env var holds what).
Usage: include "autophon.env" (dict "ctx" $ "dbSecret" "<name or empty for the default>" "apiTokens" true)
*/}}
{{- define "autophon.env" -}}
{{- $ctx := .ctx }}
{{- $secret := .dbSecret | default (include "autophon.db.secretName" $ctx) }}
{{- if $secret }}
- name: {{ include "autophon.db.passwordEnv" $ctx }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "autophon.db.secretKey" $ctx }}
{{- end }}
{{- if and .apiTokens $ctx.Values.api.auth.existingSecret }}
- name: {{ include "autophon.api.tokensEnv" $ctx }}
  valueFrom:
    secretKeyRef:
      name: {{ $ctx.Values.api.auth.existingSecret }}
      key: {{ $ctx.Values.api.auth.existingSecretKey }}
{{- end }}
{{- end }}

{{/*
Volumes of an AutoPhon pod: the config file (read-only), an emptyDir for /tmp (the root
filesystem is read-only) and, when "data" is true, the shared volume.
Usage: include "autophon.volumes" (dict "ctx" $ "data" true "configMap" "<name or empty>")
*/}}
{{- define "autophon.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap | default (include "autophon.configMapName" .ctx) }}
- name: tmp
  emptyDir:
    {{- with .ctx.Values.tmpVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- else }} {}
    {{- end }}
{{- if .data }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "autophon.pvcName" .ctx }}
{{- end }}
{{- end }}

{{/* Mounts matching autophon.volumes. Usage: as autophon.volumes. */}}
{{- define "autophon.volumeMounts" -}}
- name: config
  mountPath: {{ include "autophon.configMountPath" .ctx }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .data }}
- name: data
  mountPath: {{ include "autophon.dataMountPath" .ctx }}
{{- end }}
{{- end }}

{{/*
Scheduling and pod-level settings shared by the Deployments.
Usage: include "autophon.podSpecCommon" (dict "ctx" $ "component" .Values.api)
*/}}
{{- define "autophon.podSpecCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .component.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
An HTTP probe from a values block { enabled, path, <probe timings> } and a port name.
Usage: include "autophon.httpProbe" (dict "probe" .Values.api.livenessProbe "port" "http")
*/}}
{{- define "autophon.httpProbe" -}}
httpGet:
  path: {{ .probe.path }}
  port: {{ .port }}
{{ toYaml (omit .probe "enabled" "path") }}
{{- end }}

{{/*
How the migration Job runs (its helm.sh/hook; "" = an ordinary release object): before install
and upgrade against an external database. The bundled PostgreSQL does not exist yet when
pre-install hooks run, and a post-install hook would run only after `helm install --wait` saw
every pod ready, which they never are without the schema: so on install the Job is an ordinary
object that waits for the database and migrates while the pods wait (unready); before an
upgrade it is a hook again.
*/}}
{{- define "autophon.migrations.hook" -}}
{{- if not .Values.database.postgresql.enabled }}pre-install,pre-upgrade{{ else if .Release.IsUpgrade }}pre-upgrade{{ end }}
{{- end }}

{{/* Name of the migration Job: "<fullname>-migrate", "<fullname>-migrate-install" when it is no hook. */}}
{{- define "autophon.migrations.jobName" -}}
{{- include "autophon.componentName" (dict "ctx" . "suffix" (ternary "migrate" "migrate-install" (ne (include "autophon.migrations.hook" .) ""))) }}
{{- end }}

{{/*
"true" when the cluster serves an API group version that GA'd in Kubernetes `since`. On a live
cluster .Capabilities.APIVersions is what the API server serves; `helm template` assumes every
version helm knows, so there the Kubernetes version (--kube-version) decides as well.
Usage: include "autophon.serves" (dict "ctx" $ "api" "autoscaling/v2" "since" "1.23.0-0")
*/}}
{{- define "autophon.serves" -}}
{{- if and (.ctx.Capabilities.APIVersions.Has .api) (semverCompare (printf ">=%s" .since) .ctx.Capabilities.KubeVersion.Version) }}true{{ end }}
{{- end }}

{{/*
"true" when a component gets a HorizontalPodAutoscaler: enabled and autoscaling/v2 served.
Otherwise its Deployment sets replicas itself.
Usage: include "autophon.hpa" (dict "ctx" $ "autoscaling" .Values.api.autoscaling)
*/}}
{{- define "autophon.hpa" -}}
{{- if and .autoscaling.enabled (include "autophon.serves" (dict "ctx" .ctx "api" "autoscaling/v2" "since" "1.23.0-0")) }}true{{ end }}
{{- end }}

{{/* "true" when a component gets a PodDisruptionBudget: enabled and policy/v1 served. */}}
{{- define "autophon.pdb" -}}
{{- if and .budget.enabled (include "autophon.serves" (dict "ctx" .ctx "api" "policy/v1" "since" "1.21.0-0")) }}true{{ end }}
{{- end }}
