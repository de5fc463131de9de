"""The console's words in Catalan, Spanish and English: a small catalogue, no toolchain.

The language is the one the visitor chose with the switch (a cookie), else the best of
the browser's ``Accept-Language`` we speak, else Catalan's neighbours in order: the
catalogue is tiny, so a missing word is a test failure (``tests/unit/gateway/console``),
never a silent fallback at run time.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

__all__ = ["LANGUAGES", "LANG_COOKIE", "MESSAGES", "choose_language", "translate"]

LANGUAGES: Final = ("ca", "es", "en")
LANG_COOKIE: Final = "interop_console_lang"
_DEFAULT: Final = "en"

# key: (ca, es, en)
MESSAGES: Final[dict[str, tuple[str, str, str]]] = {
    "title": ("Consola d'interop-bus", "Consola de interop-bus", "interop-bus console"),
    "skip": ("Vés al contingut", "Ir al contenido", "Skip to content"),
    "language": ("Idioma", "Idioma", "Language"),
    "sign_in": ("Inicia la sessió", "Iniciar sesión", "Sign in"),
    "sign_out": ("Tanca la sessió", "Cerrar sesión", "Sign out"),
    "signed_in_as": ("Sessió de", "Sesión de", "Signed in as"),
    "api_key": ("Clau d'API", "Clave de API", "API key"),
    "api_key_help": (
        "La clau del vostre organisme (desenvolupament). En producció, el certificat de "
        "client identifica l'organisme.",
        "La clave de su organismo (desarrollo). En producción, el certificado de cliente "
        "identifica al organismo.",
        "Your administration's key (development). In production your client certificate "
        "identifies your administration.",
    ),
    "sign_in_failed": (
        "No s'ha pogut iniciar la sessió: credencial no vàlida.",
        "No se ha podido iniciar sesión: credencial no válida.",
        "Could not sign in: the credential is not valid.",
    ),
    "demo": ("DEMOSTRACIÓ", "DEMOSTRACIÓN", "DEMO"),
    "demo_citizen": (
        "Accés de ciutadà de demostració",
        "Acceso de ciudadano de demostración",
        "Demo citizen sign-in",
    ),
    "demo_citizen_help": (
        "Només per a proves: entreu amb un número de document de la població sintètica. "
        "En producció el portal ciutadà identifica la persona (Cl@ve, eIDAS).",
        "Solo para pruebas: entre con un número de documento de la población sintética. "
        "En producción el portal ciudadano identifica a la persona (Cl@ve, eIDAS).",
        "For trying it out only: enter a document number from the synthetic population. "
        "In production the citizen portal identifies the person (Cl@ve, eIDAS).",
    ),
    "document_number": ("Número de document", "Número de documento", "Document number"),
    "act_for": ("Actua per a un ciutadà", "Actuar para un ciudadano", "Act for a citizen"),
    "act_for_help": (
        "El portal ha verificat la identitat d'aquesta persona.",
        "El portal ha verificado la identidad de esta persona.",
        "The portal has verified this person's identity.",
    ),
    "continue": ("Continua", "Continuar", "Continue"),
    "home": ("Inici", "Inicio", "Home"),
    "nothing_here": (
        "Aquesta sessió no dona accés a cap pàgina de la consola.",
        "Esta sesión no da acceso a ninguna página de la consola.",
        "This session gives access to no console page.",
    ),
    # citizen
    "who_looked": (
        "Qui ha consultat les meves dades",
        "Quién ha consultado mis datos",
        "Who looked at my data",
    ),
    "who_looked_intro": (
        "Cada consulta completada sobre vós: quina administració, quin empleat públic, "
        "per a què i amb quina base legal.",
        "Cada consulta completada sobre usted: qué administración, qué empleado público, "
        "para qué y con qué base legal.",
        "Every completed request about you: which administration, which official, what "
        "for and on which legal basis.",
    ),
    "no_accesses": (
        "Ningú no ha consultat les vostres dades.",
        "Nadie ha consultado sus datos.",
        "Nobody has looked at your data.",
    ),
    "when": ("Quan", "Cuándo", "When"),
    "administration": ("Administració", "Administración", "Administration"),
    "official": ("Empleat públic", "Empleado público", "Official"),
    "service": ("Servei", "Servicio", "Service"),
    "provider": ("Proveïdor", "Proveedor", "Provider"),
    "purpose": ("Finalitat", "Finalidad", "Purpose"),
    "procedure": ("Procediment", "Procedimiento", "Procedure"),
    "legal_basis": ("Base legal", "Base legal", "Legal basis"),
    "consents": ("Els meus consentiments", "Mis consentimientos", "My consents"),
    "consents_intro": (
        "Un consentiment permet a una administració demanar unes dades vostres per a una "
        "finalitat. Podeu revocar-lo quan vulgueu: la següent petició es denegarà.",
        "Un consentimiento permite a una administración pedir unos datos suyos para una "
        "finalidad. Puede revocarlo cuando quiera: la siguiente petición se denegará.",
        "A consent lets one administration ask for some of your data for one purpose. You "
        "can revoke it at any time: the next request is refused.",
    ),
    "consent_allows": (
        "{grantee} pot demanar «{service}» a {provider} per a: {purposes}.",
        "{grantee} puede pedir «{service}» a {provider} para: {purposes}.",
        "{grantee} may ask {provider} for “{service}” for: {purposes}.",
    ),
    "any_administration": (
        "Qualsevol administració",
        "Cualquier administración",
        "Any administration",
    ),
    "state": ("Estat", "Estado", "State"),
    "state_active": ("actiu", "activo", "active"),
    "state_revoked": ("revocat", "revocado", "revoked"),
    "state_expired": ("caducat", "caducado", "expired"),
    "state_not-yet-valid": ("encara no vigent", "aún no vigente", "not yet valid"),
    "revoke": ("Revoca", "Revocar", "Revoke"),
    "grant": ("Dona el consentiment", "Dar el consentimiento", "Grant consent"),
    "grant_title": ("Dona un consentiment", "Dar un consentimiento", "Grant a consent"),
    "grantee": ("A qui", "A quién", "To whom"),
    "no_consents": (
        "No heu donat cap consentiment.",
        "No ha dado ningún consentimiento.",
        "You have given no consent.",
    ),
    "oppositions": ("Les meves oposicions", "Mis oposiciones", "My oppositions"),
    "oppositions_intro": (
        "Alguns serveis es consulten sense demanar-vos permís (consentiment presumpte, Llei "
        "39/2015, art. 28). Us hi podeu oposar: les administracions us hauran de demanar "
        "el document.",
        "Algunos servicios se consultan sin pedirle permiso (consentimiento presunto, Ley "
        "39/2015, art. 28). Puede oponerse: las administraciones le tendrán que pedir el "
        "documento.",
        "Some services are consulted without asking you (presumed consent, Ley 39/2015, "
        "art. 28). You may object: administrations will then have to ask you for the "
        "document.",
    ),
    "opposition_blocks": (
        "Cap administració no pot consultar «{service}» sense el vostre permís.",
        "Ninguna administración puede consultar «{service}» sin su permiso.",
        "No administration may consult “{service}” without asking you.",
    ),
    "oppose": ("M'hi oposo", "Me opongo", "Object"),
    "no_oppositions": (
        "No us heu oposat a cap consulta.",
        "No se ha opuesto a ninguna consulta.",
        "You have objected to nothing.",
    ),
    "change_saved": ("Canvi desat i auditat.", "Cambio guardado y auditado.", "Saved and audited."),
    # auditor
    "events": ("Esdeveniments d'auditoria", "Eventos de auditoría", "Audit events"),
    "search": ("Cerca", "Buscar", "Search"),
    "subject": ("Persona (identificador)", "Persona (identificador)", "Subject (identifier)"),
    "requester": ("Sol·licitant", "Solicitante", "Requester"),
    "outcome": ("Resultat", "Resultado", "Outcome"),
    "type": ("Tipus", "Tipo", "Type"),
    "any": ("qualsevol", "cualquiera", "any"),
    "since": ("Des de", "Desde", "Since"),
    "until": ("Fins a", "Hasta", "Until"),
    "time_help": (
        "ISO 8601 amb zona, p. ex. 2026-05-09T10:00:00Z",
        "ISO 8601 con zona, p. ej. 2026-05-09T10:00:00Z",
        "ISO 8601 with a zone, e.g. 2026-05-09T10:00:00Z",
    ),
    "exchange": ("Intercanvi", "Intercambio", "Exchange"),
    "next_page": ("Pàgina següent", "Página siguiente", "Next page"),
    "first_page": ("Primera pàgina", "Primera página", "First page"),
    "csv": ("Exporta en CSV", "Exportar en CSV", "Export CSV"),
    "no_events": ("Cap esdeveniment.", "Ningún evento.", "No events."),
    "timeline": ("Cronologia de l'intercanvi", "Cronología del intercambio", "Exchange timeline"),
    "step": ("Pas", "Paso", "Step"),
    "since_previous": ("Des de l'anterior", "Desde el anterior", "Since previous"),
    "since_start": ("Des de l'inici", "Desde el inicio", "Since start"),
    "actor": ("Actor", "Actor", "Actor"),
    "latency": ("Latència declarada", "Latencia declarada", "Reported latency"),
    "reason": ("Motiu", "Motivo", "Reason"),
    "checkpoint": (
        "Darrer punt de control signat",
        "Último punto de control firmado",
        "Latest signed checkpoint",
    ),
    "tree_size": ("Esdeveniments al registre", "Eventos en el registro", "Events in the log"),
    "verified": (
        "Signatura verificada i arrel igual a la de l'índex.",
        "Firma verificada y raíz igual a la del índice.",
        "Signature verified and root equal to the index's.",
    ),
    "not_verified": ("NO verificat", "NO verificado", "NOT verified"),
    "verify_offline": (
        "Verifiqueu-lo fora de línia amb:",
        "Verifíquelo sin conexión con:",
        "Verify it offline with:",
    ),
    "no_checkpoint": (
        "Encara no hi ha cap punt de control signat.",
        "Aún no hay ningún punto de control firmado.",
        "No signed checkpoint yet.",
    ),
    "charts": ("Gràfics", "Gráficos", "Charts"),
    "charts_window": (
        "Intercanvis tancats entre els darrers {window} esdeveniments del registre: {count}.",
        "Intercambios cerrados entre los últimos {window} eventos del registro: {count}.",
        "Exchanges closed among the log's last {window} events: {count}.",
    ),
    "by_service": (
        "Intercanvis per servei i resultat",
        "Intercambios por servicio y resultado",
        "Exchanges per service and outcome",
    ),
    "over_time": (
        "Intercanvis al llarg del temps",
        "Intercambios a lo largo del tiempo",
        "Exchanges over time",
    ),
    "latency_title": (
        "Latència per servei (mediana i percentil 95)",
        "Latencia por servicio (mediana y percentil 95)",
        "Latency per service (median and 95th percentile)",
    ),
    "median": ("Mediana", "Mediana", "Median"),
    "p95": ("Percentil 95", "Percentil 95", "95th percentile"),
    "total": ("Total", "Total", "Total"),
    "bucket_start": ("Inici de l'interval", "Inicio del intervalo", "Interval start"),
    # errors
    "error": ("Error", "Error", "Error"),
    "forbidden": (
        "Aquesta sessió no pot obrir aquesta pàgina.",
        "Esta sesión no puede abrir esta página.",
        "This session may not open this page.",
    ),
    "csrf_refused": (
        "Formulari refusat: falta el testimoni de seguretat o no és vàlid. Torneu-ho a "
        "provar des de la pàgina.",
        "Formulario rechazado: falta el testigo de seguridad o no es válido. Vuelva a "
        "intentarlo desde la página.",
        "Form refused: its security token is missing or not valid. Try again from the page.",
    ),
    "back": ("Torna", "Volver", "Back"),
}


def translate(language: str, key: str, **values: str) -> str:
    """The message ``key`` in ``language`` with ``{name}`` filled in (KeyError if unknown)."""
    text = MESSAGES[key][LANGUAGES.index(language)]
    return text.format(**values) if values else text


def choose_language(request: web.Request) -> str:
    """The switch's choice (cookie), else the browser's best match, else English."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else _DEFAULT
