"""Namespaces, MIG versions and the KITH code lists the harness speaks.

Sources: KITH MsgHead 1.2, Dialogmelding 1.0/1.1 and AppRec 1.0/1.1 XSDs and
code lists 8258 (status) and 8221 (errors), as collected in the project's
protocol reference. Kept in one place so that builders, parsers, validators and
the conformance kit cannot disagree about a value.
"""

from __future__ import annotations

from enum import StrEnum

NS_MSGHEAD = "http://www.kith.no/xmlstds/msghead/2006-05-24"
NS_DIALOG_11 = "http://www.kith.no/xmlstds/dialog/2013-01-23"
NS_DIALOG_10 = "http://www.kith.no/xmlstds/dialog/2006-10-11"
NS_APPREC_10 = "http://www.kith.no/xmlstds/apprec/2004-11-21"
NS_APPREC_11 = "http://www.kith.no/xmlstds/apprec/2012-02-15"
NS_XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
NS_FK1 = "http://www.kith.no/xmlstds/felleskomponent1"
NS_BASE64 = "http://www.kith.no/xmlstds/base64container"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

MIG_MSGHEAD = "v1.2 2006-05-24"
MIG_APPREC_10 = "1.0 2004-11-21"
MIG_APPREC_11 = "v1.1 2012-02-15"

MIG_VERSIONS_MSGHEAD = frozenset({MIG_MSGHEAD})
# AppRec 1.0 documents in the wild carry either the namespace date or the 2008
# revision date (e.g. "1.0 2008-11-21" in KS's samples); both are version 1.0.
MIG_VERSIONS_APPREC_10 = frozenset({MIG_APPREC_10, "1.0 2008-11-21", "v1.0 2004-11-21"})
MIG_VERSIONS_APPREC_11 = frozenset({MIG_APPREC_11})

OID_HER = "2.16.578.1.12.4.1.1.9051"
OID_PERSON_ID = "2.16.578.1.12.4.1.1.8116"
OID_APPREC_STATUS = "2.16.578.1.12.4.1.1.8258"
OID_APPREC_ERROR = "2.16.578.1.12.4.1.1.8221"
OID_TYPE_FORESP = "2.16.578.1.12.4.1.1.7601"
OID_TYPE_FORESP_TEST = "2.16.578.1.12.4.1.1.7603"
OID_TEMA_NOTAT = "2.16.578.1.12.4.1.1.7322"
OID_REFDOC_MSGTYPE = "2.16.578.1.12.4.1.1.8114"


class MessageFunction(StrEnum):
    """MsgHead ``MsgInfo/Type@V`` values (and AMQP ``subject``) used by DigiHelse."""

    EKONTAKT = "DIALOG_INNBYGGER_EKONTAKT"
    TIMERESERVASJON = "DIALOG_INNBYGGER_TIMERESERVASJON"
    AVTALEUTSENDING = "DIALOG_INNBYGGER_AVTALEUTSENDING"
    AVTALEAVBESTILLING = "DIALOG_INNBYGGER_AVTALEAVBESTILLING"
    TEST = "DIALOG_INNBYGGER_TEST"
    DIGITALBRUKER = "DIALOG_INNBYGGER_DIGITALBRUKER"
    APPREC = "APPREC"


MESSAGE_FUNCTION_NAMES: dict[str, str] = {
    MessageFunction.EKONTAKT: "Dialog med innbygger - eKontakt",
    MessageFunction.TIMERESERVASJON: "Dialog med innbygger - timereservasjon",
    MessageFunction.AVTALEUTSENDING: "Dialog med innbygger - avtaleutsending",
    MessageFunction.AVTALEAVBESTILLING: "Dialog med innbygger - avtaleavbestilling",
    MessageFunction.TEST: "Dialog med innbygger - kommunikasjonstest",
    MessageFunction.DIGITALBRUKER: "Dialog med innbygger - digitalbruker",
    MessageFunction.APPREC: "Applikasjonskvittering",
}


class AppRecStatus(StrEnum):
    """Code list 8258, "Status for mottak av melding"."""

    OK = "1"
    AVVIST = "2"
    OK_FEIL_I_DELMELDING = "3"


APPREC_STATUS_TEXT: dict[str, str] = {
    AppRecStatus.OK: "OK",
    AppRecStatus.AVVIST: "Avvist",
    AppRecStatus.OK_FEIL_I_DELMELDING: "OK, feil i delmelding",
}

APPREC_ERROR_TEXT: dict[str, str] = {
    "E10": "Ugyldig meldingsidentifikator",
    "E20": "Lege finnes ikke",
    "E21": "Mottaker finnes ikke",
    "E30": "Pasientens fødselsnummer mangler",
    "E31": "Pasientens fødselsnummer er feil",
    "E32": "Pasientens navn mangler",
    "E35": "Pasienten finnes ikke i mottakersystemet",
    "E36": "Pasientopplysninger er utilstrekkelige",
    "E53": "Fnr/D-nr finnes ikke i Folkeregisteret",
    "E54": "Fnr ikke registrert i mottagersystemet",
    "S01": "Feil på signatur",
    "S02": "Ugyldig sertifikat",
    "S03": "Tilbaketrukket sertifikat",
    "T01": "Ikke XML / ikke 'well formed' / uleselig",
    "T02": "XML validerer ikke",
    "T10": "Støtter ikke meldingsformatet",
    "T99": "Annen feil på format",
    "X99": "Annen feil",
}
"""Code list 8221, "Feilmeldinger for applikasjonskvittering – Generelle"."""

ACK_VALUES = frozenset({"J", "N"})

TYPE_FORESP_TEXT: dict[str, str] = {
    "BA": "Bestille attest",
    "RF": "Reseptfornying",
    "KT": "Kommunikasjonstest",
}
