{{/* Names ------------------------------------------------------------------------------------ */}}
{{- define "zoom-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "zoom-operator.fullname" -}}
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

{{- define "zoom-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "zoom-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------------------------- */}}
{{- define "zoom-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zoom-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zoom-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zoom-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zoom-operator
{{- end -}}

{{/* Modes ------------------------------------------------------------------------------------ */}}
{{- define "zoom-operator.clusterwide" -}}
{{- if not .Values.watchNamespaces -}}true{{- end -}}
{{- end -}}

{{- define "zoom-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Fail early on value combinations that would run two minters for one app. */}}
{{- define "zoom-operator.validate" -}}
{{- if and (gt (int .Values.shards) 1) .Values.peering.enabled -}}
{{- fail "shards > 1 cannot be combined with peering.enabled: kopf keeps sharded peers of the same priority running, so a standby would mint tokens too. Use one replica per shard." -}}
{{- end -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail "replicas > 1 needs peering.enabled=true: without peering every replica mints tokens for every ZoomApp. To split the load, use shards instead." -}}
{{- end -}}
{{- if and .Values.peering.enabled (lt (int .Values.replicas) 1) -}}
{{- fail "peering.enabled needs replicas >= 1" -}}
{{- end -}}
{{- range .Values.extraArgs -}}
{{- if regexMatch "^(-n|--namespace|-A|--all-namespaces|--standalone|--peering|--priority|--shard|--metrics-port|--liveness|--kubeconfig)(=.*)?$" . -}}
{{- fail (printf "extraArgs must not contain %s: the chart sets it from watchNamespaces, peering, shards, metrics and health, and RBAC must match" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The RBAC rules the operator needs in a namespace (Role) or everywhere (ClusterRole). Each rule is
what the code really calls; tests/chart/ proves on a real API server that they suffice, and that
removing one makes the operator fail.
*/}}
{{- define "zoom-operator.rules" -}}
# ZoomApps: kopf lists and watches them, and patches away the finalizer zoom-operator.io/finalizer that
# versions before 2026-12-07 added; the operator gets an auditor ZoomApp (spec.auditorRef).
- apiGroups: ["zoom-operator.io"]
  resources: ["zoomapps"]
  verbs: ["get", "list", "watch", "patch"]
# The operator writes status (conditions, token metadata, owner, mints) and nothing else there.
- apiGroups: ["zoom-operator.io"]
  resources: ["zoomapps/status"]
  verbs: ["patch"]
# Secrets: kopf watches only the labelled ones (server-side selector zoom-operator.io/credentials),
# but RBAC cannot restrict list/watch by label, nor get/create/update/patch by name here (the names
# come from each ZoomApp's spec). get: credentials and token Secrets; create/update: the token
# Secret (PUT with resourceVersion); patch: adds the zoom-operator.io/credentials label to
# credentials Secrets. Never delete: token Secrets go with their ZoomApp (owner reference).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# Events on ZoomApps (condition transitions, kopf's handler errors): core v1, create only.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/*
kopf's cluster scanning, read-only: it watches CRDs (to notice the ZoomApp CRD being installed or
upgraded after it started) and, with a namespace list, namespaces. Without these rights kopf retries
each refused request 9 times (about a minute of 403s in the log, before serving anything in
namespaced mode), then falls back to the CRDs present at start and the namespaces it was given.
*/}}
{{- define "zoom-operator.scanningRules" -}}
{{- if .Values.rbac.scanning }}
# kopf: notice CRDs appearing and changing (read-only).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if not (include "zoom-operator.clusterwide" .) }}
# kopf: resolve the watched namespaces (read-only; names and labels only matter).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
{{- end -}}

{{- define "zoom-operator.peeringRules" -}}
{{- if .Values.peering.enabled }}
# kopf peering: watch the peering object and keep this replica's heartbeat in it.
- apiGroups: ["kopf.dev"]
  resources: [{{ if include "zoom-operator.clusterwide" . }}"clusterkopfpeerings"{{ else }}"kopfpeerings"{{ end }}]
  verbs: ["list", "watch"]
- apiGroups: ["kopf.dev"]
  resources: [{{ if include "zoom-operator.clusterwide" . }}"clusterkopfpeerings"{{ else }}"kopfpeerings"{{ end }}]
  resourceNames: [{{ .Values.peering.name | quote }}]
  verbs: ["patch"]
{{- end }}
{{- end -}}

{{/* `zoom-operator run` options shared by all workloads (without --shard/--priority). */}}
{{- define "zoom-operator.args" -}}
{{- if include "zoom-operator.clusterwide" . }}
- --all-namespaces
{{- else }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- end }}
{{- if .Values.peering.enabled }}
- --peering={{ .Values.peering.name }}
{{- else }}
- --standalone
{{- end }}
- --metrics-port={{ .Values.metrics.port }}
- --liveness=http://0.0.0.0:{{ .Values.health.port }}/healthz
- --kube-workers={{ .Values.kubeWorkers }}
{{- range .Values.allowEndpoints }}
- --allow-endpoint={{ . }}
{{- end }}
{{- if .Values.verbose }}
- --verbose
{{- end }}
{{- if ne .Values.logFormat "plain" }}
- --log-format={{ .Values.logFormat }}
{{- end }}
{{- end -}}
