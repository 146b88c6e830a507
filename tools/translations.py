"""Writes the German and Czech catalogs from the template and the translations below.

Run after changing a text: ``python tools/translations.py`` (it extracts the template with
pybabel first). Translations live here, one table per language, so that a changed English
text shows up as a missing translation in ``tests/mail/test_i18n.py`` instead of silently
keeping an old one in a .po file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "src" / "frontdesk" / "mail" / "locales"
TEMPLATE = LOCALES / "frontdesk.pot"

Text = str | tuple[str, ...]

GERMAN: dict[str, Text] = {
    "Your Frontdesk notifications come to this address now": (
        "Ihre Frontdesk-Benachrichtigungen kommen jetzt an diese Adresse"
    ),
    "The e-mail address of your Frontdesk login was changed": (
        "Die E-Mail-Adresse Ihres Frontdesk-Logins wurde geändert"
    ),
    "A test notification from Frontdesk": "Eine Testbenachrichtigung von Frontdesk",
    (
        "This address is now the login and the notification address of an agent of "
        "%(shop)s on the Frontdesk at %(site)s."
    ): (
        "Diese Adresse ist jetzt die Login- und Benachrichtigungsadresse eines Agenten von "
        "%(shop)s auf dem Frontdesk unter %(site)s."
    ),
    "This short e-mail shows that mail reaches it; there is nothing to do.": (
        "Diese kurze E-Mail zeigt, dass Post sie erreicht; Sie müssen nichts tun."
    ),
    (
        "If you did not expect it, somebody gave this address as theirs: tell the owner of "
        "%(shop)s."
    ): (
        "Wenn Sie sie nicht erwartet haben, hat jemand diese Adresse als seine angegeben: "
        "sagen Sie es dem Inhaber von %(shop)s."
    ),
    (
        "The e-mail address of your agent login of %(shop)s on the Frontdesk at %(site)s "
        "was changed from this address to %(email)s."
    ): (
        "Die E-Mail-Adresse Ihres Agenten-Logins von %(shop)s auf dem Frontdesk unter "
        "%(site)s wurde von dieser Adresse auf %(email)s geändert."
    ),
    (
        "Your login and your notifications go to the new address from now on, and nothing "
        "more comes to this one. If you made the change, there is nothing to do."
    ): (
        "Ihr Login und Ihre Benachrichtigungen gehen ab jetzt an die neue Adresse, und an "
        "diese kommt nichts mehr. Wenn Sie die Änderung vorgenommen haben, müssen Sie nichts "
        "tun."
    ),
    (
        "If it was not you, somebody else knows your password. Log in with the new address "
        "and your password, set your address back and choose a new password; if you "
        "cannot, ask an owner or an admin of %(shop)s to deactivate your agent at once."
    ): (
        "Wenn Sie es nicht waren, kennt jemand anderes Ihr Passwort. Melden Sie sich mit der "
        "neuen Adresse und Ihrem Passwort an, stellen Sie Ihre Adresse zurück und wählen Sie "
        "ein neues Passwort; wenn das nicht geht, bitten Sie einen Inhaber oder Admin von "
        "%(shop)s, Ihren Agenten sofort zu deaktivieren."
    ),
    (
        "You asked for a test notification: e-mail from the Frontdesk at %(site)s reaches "
        "this address."
    ): (
        "Sie haben eine Testbenachrichtigung angefordert: E-Mails vom Frontdesk unter "
        "%(site)s erreichen diese Adresse."
    ),
    (
        "Your profile shows whether this e-mail was accepted and what each of your browsers "
        "and phones answered to its test push."
    ): (
        "Ihr Profil zeigt, ob diese E-Mail angenommen wurde und was jeder Ihrer Browser und "
        "jedes Ihrer Telefone auf den Test-Push geantwortet hat."
    ),
    "An answer from %(shop)s": "Eine Antwort von %(shop)s",
    "Your conversation with %(shop)s": "Ihr Gespräch mit %(shop)s",
    "Here is your conversation with %(shop)s in the chat on its website.": (
        "Hier ist Ihr Gespräch mit %(shop)s im Chat auf der Website."
    ),
    "You": "Sie",
    "Reply to this e-mail to write to %(shop)s again.": (
        "Antworten Sie auf diese E-Mail, um %(shop)s wieder zu schreiben."
    ),
    "You wrote to %(shop)s in the chat on its website. Here is the answer.": (
        "Sie haben %(shop)s im Chat auf der Website geschrieben. Hier ist die Antwort."
    ),
    "Reply to this e-mail to answer: your reply goes into the same conversation.": (
        "Antworten Sie auf diese E-Mail, um zu antworten: Ihre Antwort kommt in dasselbe Gespräch."
    ),
    "Or reply to this e-mail: your reply is posted in the conversation as your answer.": (
        "Oder antworten Sie auf diese E-Mail: Ihre Antwort erscheint im Gespräch als Ihre Antwort."
    ),
    "%(who)s is waiting for an answer on %(shop)s": "%(who)s wartet auf %(shop)s auf eine Antwort",
    "A webhook endpoint of %(shop)s kept failing and was switched off.": (
        "Ein Webhook-Endpunkt von %(shop)s ist wiederholt fehlgeschlagen und wurde abgeschaltet."
    ),
    "A webhook of %(shop)s was switched off": "Ein Webhook von %(shop)s wurde abgeschaltet",
    "Endpoint": "Endpunkt",
    (
        "Events for it are no longer sent. Once the endpoint answers again, switch it on in "
        "the settings; its delivery log shows every attempt."
    ): (
        "Ereignisse werden nicht mehr an ihn gesendet. Sobald der Endpunkt wieder antwortet, "
        "schalten Sie ihn in den Einstellungen wieder ein; sein Zustellprotokoll zeigt jeden "
        "Versuch."
    ),
    "Open the settings": "Einstellungen öffnen",
    "What happened": "Was geschah",
    "%(email)s will no longer get e-mails about messages that arrive while no agent is online.": (
        "%(email)s bekommt keine E-Mails mehr zu Nachrichten, die eintreffen, während kein "
        "Agent online ist."
    ),
    "%(email)s will no longer get e-mails about visitors who left without an answer.": (
        "%(email)s bekommt keine E-Mails mehr zu Besuchern, die ohne Antwort gegangen sind."
    ),
    "%(who)s left %(shop)s before anybody answered.": (
        "%(who)s hat %(shop)s verlassen, bevor jemand geantwortet hat."
    ),
    "%(who)s left a message": (
        "%(who)s hat eine Nachricht hinterlassen",
        "%(who)s hat %(num)d Nachrichten hinterlassen",
    ),
    "%(who)s left without an answer": "%(who)s ist ohne Antwort gegangen",
    "E-mail": "E-Mail",
    "It arrived on %(shop)s while no agent was online.": (
        "Sie kam auf %(shop)s an, als kein Agent online war.",
        "Sie kamen auf %(shop)s an, als kein Agent online war.",
    ),
    "Left at": "Gegangen um",
    "Message": ("Nachricht", "Nachrichten"),
    "Missed conversation: %(who)s left %(shop)s without an answer": (
        "Verpasste Unterhaltung: %(who)s hat %(shop)s ohne Antwort verlassen"
    ),
    "New message from %(who)s on %(shop)s": (
        "Neue Nachricht von %(who)s auf %(shop)s",
        "%(num)d neue Nachrichten von %(who)s auf %(shop)s",
    ),
    "Open the conversation": "Unterhaltung öffnen",
    "Open the dashboard": "Dashboard öffnen",
    "Page": "Seite",
    "Stop e-mails about missed conversations?": "Keine E-Mails mehr zu verpassten Unterhaltungen?",
    "Stop e-mails about offline messages?": "Keine E-Mails mehr zu Offline-Nachrichten?",
    "Times are in %(zone)s.": "Zeitzone: %(zone)s.",
    "Unsubscribe": "Abbestellen",
    "Unsubscribe from these e-mails": "Diese E-Mails abbestellen",
    "Visitor": "Besucher",
    "Visitor #%(id)s": "Besucher #%(id)s",
    "You are unsubscribed": "Abbestellt",
    "You can turn them on again at any time in your profile in the dashboard.": (
        "Sie können sie jederzeit in Ihrem Profil im Dashboard wieder einschalten."
    ),
    "You get this e-mail because you are an agent of %(shop)s and e-mails about missed "
    "conversations are on for you.": (
        "Sie bekommen diese E-Mail, weil Sie Agent bei %(shop)s sind und E-Mails zu "
        "verpassten Unterhaltungen für Sie eingeschaltet sind."
    ),
    "You get this e-mail because you are an agent of %(shop)s and e-mails about offline "
    "messages are on for you.": (
        "Sie bekommen diese E-Mail, weil Sie Agent bei %(shop)s sind und E-Mails zu "
        "Offline-Nachrichten für Sie eingeschaltet sind."
    ),
    "Confirm your e-mail address for Frontdesk": "Bestätigen Sie Ihre E-Mail-Adresse für Frontdesk",
    (
        "Your invitation to answer chats on Frontdesk"
    ): "Ihre Einladung, Chats auf Frontdesk zu beantworten",
    "%(num)d notification held back on %(shop)s": (
        "%(num)d Benachrichtigung auf %(shop)s zurückgehalten",
        "%(num)d Benachrichtigungen auf %(shop)s zurückgehalten",
    ),
    "Offline message": "Offline-Nachricht",
    "Missed conversation": "Verpasste Unterhaltung",
    "Please confirm that this is your e-mail address.": (
        "Bitte bestätigen Sie, dass dies Ihre E-Mail-Adresse ist."
    ),
    (
        "This address was given for an agent of %(shop)s on the Frontdesk at %(site)s. "
        "Until it is confirmed, Frontdesk sends it no notification."
    ): (
        "Diese Adresse wurde für einen Agenten von %(shop)s auf dem Frontdesk unter %(site)s "
        "angegeben. Bis sie bestätigt ist, schickt Frontdesk ihr keine Benachrichtigung."
    ),
    "Confirm the address": "Adresse bestätigen",
    "The link works for %(num)d day.": (
        "Der Link gilt %(num)d Tag.",
        "Der Link gilt %(num)d Tage.",
    ),
    "If you did not ask for this, ignore this e-mail: nothing more will come to this address.": (
        "Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: An diese Adresse "
        "kommt nichts mehr."
    ),
    "You are invited to answer chats on Frontdesk.": (
        "Sie sind eingeladen, Chats auf Frontdesk zu beantworten."
    ),
    (
        "Somebody who calls themselves %(inviter)s added this address as an agent of "
        "%(shop)s on the Frontdesk at %(site)s. These names are what they typed, not "
        "words of Frontdesk."
    ): (
        "Jemand, der sich %(inviter)s nennt, hat diese Adresse als Agent von %(shop)s auf dem "
        "Frontdesk unter %(site)s eingetragen. Diese Namen hat diese Person eingegeben, nicht "
        "Frontdesk."
    ),
    "Accept the invitation and confirm your address": ("Einladung annehmen und Adresse bestätigen"),
    "Whoever invited you gives you your password.": (
        "Ihr Passwort bekommen Sie von der Person, die Sie eingeladen hat."
    ),
    "If you do not know them, ignore this e-mail: nothing more will come to this address.": (
        "Wenn Sie diese Person nicht kennen, ignorieren Sie diese E-Mail: An diese Adresse "
        "kommt nichts mehr."
    ),
    "%(num)d notification was held back": (
        "%(num)d Benachrichtigung wurde zurückgehalten",
        "%(num)d Benachrichtigungen wurden zurückgehalten",
    ),
    (
        "You had reached the limit of notification e-mails for the hour, so these are "
        "listed here in one e-mail instead. Visitor names are what the visitors typed."
    ): (
        "Sie hatten die Höchstzahl an Benachrichtigungs-E-Mails für diese Stunde erreicht, "
        "daher stehen diese hier gesammelt in einer E-Mail. Besuchernamen haben die Besucher "
        "selbst eingegeben."
    ),
    '"%(typed)s"': "\u201e%(typed)s\u201c",
    (
        "The name, e-mail address, page and messages are what the visitor sent; Frontdesk "
        "has not checked them."
    ): (
        "Name, E-Mail-Adresse, Seite und Nachrichten hat der Besucher gesendet; Frontdesk "
        "hat sie nicht geprüft."
    ),
    "Frontdesk cannot send e-mail: notifications of %(shop)s wait": (
        "Frontdesk kann keine E-Mails senden: Benachrichtigungen von %(shop)s warten"
    ),
    "Nobody is online on %(shop)s during business hours": (
        "Während der Geschäftszeiten ist bei %(shop)s niemand online"
    ),
    "A visitor of %(shop)s reached nobody": "Ein Besucher von %(shop)s hat niemanden erreicht",
    (
        "A visitor wrote to %(shop)s and nobody was told: the conversation's team has no "
        "active agent."
    ): (
        "Ein Besucher hat %(shop)s geschrieben und niemand wurde benachrichtigt: Das Team der "
        "Unterhaltung hat keinen aktiven Agenten."
    ),
    (
        "A visitor wrote to %(shop)s and nobody was told: every agent of the team has "
        "switched these e-mails off or has not confirmed their address, and nobody has pushes."
    ): (
        "Ein Besucher hat %(shop)s geschrieben und niemand wurde benachrichtigt: Alle Agenten "
        "des Teams haben diese E-Mails ausgeschaltet oder ihre Adresse nicht bestätigt, und "
        "niemand hat Push-Benachrichtigungen."
    ),
    (
        "A visitor wrote to %(shop)s and nobody was told: every e-mail of the notification "
        "was refused or came back."
    ): (
        "Ein Besucher hat %(shop)s geschrieben und niemand wurde benachrichtigt: Jede E-Mail "
        "der Benachrichtigung wurde abgelehnt oder kam zurück."
    ),
    (
        "The mail server has not taken an e-mail from Frontdesk for a while. Notifications "
        "of %(shop)s wait and go out once it works again."
    ): (
        "Der Mailserver nimmt seit einer Weile keine E-Mails von Frontdesk an. "
        "Benachrichtigungen von %(shop)s warten und gehen hinaus, sobald er wieder arbeitet."
    ),
    (
        "Nobody of %(shop)s has been online for a while during business hours: visitors see "
        "the offline form."
    ): (
        "Von %(shop)s ist während der Geschäftszeiten seit einer Weile niemand online: "
        "Besucher sehen das Offline-Formular."
    ),
    (
        "You get this once, however often it happens, until it is resolved or dismissed. The "
        "settings show what happened and whom each agent can be reached by."
    ): (
        "Sie erhalten dies einmal, wie oft es auch geschieht, bis es behoben oder verworfen "
        "ist. Die Einstellungen zeigen, was geschah und wie jeder Agent erreichbar ist."
    ),
}


# Czech has three plural forms: 1; 2 to 4; 0 and 5 and more.
CZECH: dict[str, Text] = {
    "Your Frontdesk notifications come to this address now": (
        "Vaše oznámení z Frontdesku nyní chodí na tuto adresu"
    ),
    "The e-mail address of your Frontdesk login was changed": (
        "E-mailová adresa vašeho přihlášení do Frontdesku byla změněna"
    ),
    "A test notification from Frontdesk": "Testovací oznámení z Frontdesku",
    (
        "This address is now the login and the notification address of an agent of "
        "%(shop)s on the Frontdesk at %(site)s."
    ): (
        "Tato adresa je nyní přihlašovací adresou a adresou pro oznámení agenta %(shop)s "
        "ve Frontdesku na %(site)s."
    ),
    "This short e-mail shows that mail reaches it; there is nothing to do.": (
        "Tento krátký e-mail ukazuje, že na ni pošta dorazí; nemusíte nic dělat."
    ),
    (
        "If you did not expect it, somebody gave this address as theirs: tell the owner of "
        "%(shop)s."
    ): (
        "Pokud jste ho nečekali, někdo uvedl tuto adresu jako svou: řekněte to vlastníkovi "
        "%(shop)s."
    ),
    (
        "The e-mail address of your agent login of %(shop)s on the Frontdesk at %(site)s "
        "was changed from this address to %(email)s."
    ): (
        "E-mailová adresa vašeho přihlášení agenta %(shop)s ve Frontdesku na %(site)s byla "
        "změněna z této adresy na %(email)s."
    ),
    (
        "Your login and your notifications go to the new address from now on, and nothing "
        "more comes to this one. If you made the change, there is nothing to do."
    ): (
        "Vaše přihlášení a oznámení od teď patří nové adrese a na tuto už nic nepřijde. "
        "Pokud jste změnu provedli vy, nemusíte nic dělat."
    ),
    (
        "If it was not you, somebody else knows your password. Log in with the new address "
        "and your password, set your address back and choose a new password; if you "
        "cannot, ask an owner or an admin of %(shop)s to deactivate your agent at once."
    ): (
        "Pokud jste to nebyli vy, zná vaše heslo někdo jiný. Přihlaste se novou adresou a "
        "svým heslem, vraťte svou adresu a zvolte nové heslo; pokud to nejde, požádejte "
        "vlastníka nebo správce %(shop)s, aby vašeho agenta ihned deaktivoval."
    ),
    (
        "You asked for a test notification: e-mail from the Frontdesk at %(site)s reaches "
        "this address."
    ): (
        "Požádali jste o testovací oznámení: e-maily z Frontdesku na %(site)s na tuto "
        "adresu docházejí."
    ),
    (
        "Your profile shows whether this e-mail was accepted and what each of your browsers "
        "and phones answered to its test push."
    ): (
        "Váš profil ukazuje, zda byl tento e-mail přijat a co na testovací push odpověděl "
        "každý z vašich prohlížečů a telefonů."
    ),
    "An answer from %(shop)s": "Odpověď od %(shop)s",
    "Your conversation with %(shop)s": "Vaše konverzace s %(shop)s",
    "Here is your conversation with %(shop)s in the chat on its website.": (
        "Tady je vaše konverzace s %(shop)s z chatu na jeho webu."
    ),
    "You": "Vy",
    "Reply to this e-mail to write to %(shop)s again.": (
        "Odpovědí na tento e-mail napíšete %(shop)s znovu."
    ),
    "You wrote to %(shop)s in the chat on its website. Here is the answer.": (
        "Napsali jste %(shop)s do chatu na jeho webu. Tady je odpověď."
    ),
    "Reply to this e-mail to answer: your reply goes into the same conversation.": (
        "Na tento e-mail můžete odpovědět: vaše odpověď přijde do stejné konverzace."
    ),
    "Or reply to this e-mail: your reply is posted in the conversation as your answer.": (
        "Nebo odpovězte na tento e-mail: vaše odpověď se v konverzaci objeví jako vaše odpověď."
    ),
    "%(who)s is waiting for an answer on %(shop)s": "%(who)s čeká na %(shop)s na odpověď",
    "A webhook endpoint of %(shop)s kept failing and was switched off.": (
        "Webhookový endpoint účtu %(shop)s opakovaně selhával, a proto byl vypnut."
    ),
    "A webhook of %(shop)s was switched off": "Webhook účtu %(shop)s byl vypnut",
    "Endpoint": "Koncový bod",
    (
        "Events for it are no longer sent. Once the endpoint answers again, switch it on in "
        "the settings; its delivery log shows every attempt."
    ): (
        "Události se mu už neposílají. Až endpoint zase odpovídá, zapněte ho v nastavení; "
        "jeho protokol doručení ukazuje každý pokus."
    ),
    "Open the settings": "Otevřít nastavení",
    "What happened": "Co se stalo",
    "%(email)s will no longer get e-mails about messages that arrive while no agent is online.": (
        "Na adresu %(email)s už nebudou chodit e-maily o zprávách, které přijdou, když není "
        "online žádný operátor."
    ),
    "%(email)s will no longer get e-mails about visitors who left without an answer.": (
        "Na adresu %(email)s už nebudou chodit e-maily o návštěvnících, kteří odešli bez odpovědi."
    ),
    "%(who)s left %(shop)s before anybody answered.": (
        "%(who)s opustil(a) %(shop)s dřív, než někdo odpověděl."
    ),
    "%(who)s left a message": (
        "%(who)s zanechal(a) zprávu",
        "%(who)s zanechal(a) %(num)d zprávy",
        "%(who)s zanechal(a) %(num)d zpráv",
    ),
    "%(who)s left without an answer": "%(who)s odešel/odešla bez odpovědi",
    "E-mail": "E-mail",
    "It arrived on %(shop)s while no agent was online.": (
        "Přišla na %(shop)s, když nebyl online žádný operátor.",
        "Přišly na %(shop)s, když nebyl online žádný operátor.",
        "Přišly na %(shop)s, když nebyl online žádný operátor.",
    ),
    "Left at": "Odchod",
    "Message": ("Zpráva", "Zprávy", "Zprávy"),
    "Missed conversation: %(who)s left %(shop)s without an answer": (
        "Zmeškaná konverzace: %(who)s opustil(a) %(shop)s bez odpovědi"
    ),
    "New message from %(who)s on %(shop)s": (
        "Nová zpráva od %(who)s na %(shop)s",
        "%(num)d nové zprávy od %(who)s na %(shop)s",
        "%(num)d nových zpráv od %(who)s na %(shop)s",
    ),
    "Open the conversation": "Otevřít konverzaci",
    "Open the dashboard": "Otevřít dashboard",
    "Page": "Stránka",
    "Stop e-mails about missed conversations?": "Zrušit e-maily o zmeškaných konverzacích?",
    "Stop e-mails about offline messages?": "Zrušit e-maily o zprávách mimo provoz?",
    "Times are in %(zone)s.": "Časové pásmo: %(zone)s.",
    "Unsubscribe": "Odhlásit",
    "Unsubscribe from these e-mails": "Odhlásit odběr těchto e-mailů",
    "Visitor": "Návštěvník",
    "Visitor #%(id)s": "Návštěvník #%(id)s",
    "You are unsubscribed": "Odběr je odhlášen",
    "You can turn them on again at any time in your profile in the dashboard.": (
        "Kdykoli je můžete znovu zapnout ve svém profilu v dashboardu."
    ),
    "You get this e-mail because you are an agent of %(shop)s and e-mails about missed "
    "conversations are on for you.": (
        "Tento e-mail dostáváte, protože jste operátorem na %(shop)s a máte zapnuté e-maily "
        "o zmeškaných konverzacích."
    ),
    "You get this e-mail because you are an agent of %(shop)s and e-mails about offline "
    "messages are on for you.": (
        "Tento e-mail dostáváte, protože jste operátorem na %(shop)s a máte zapnuté e-maily "
        "o zprávách mimo provoz."
    ),
    "Confirm your e-mail address for Frontdesk": "Potvrďte svou e-mailovou adresu pro Frontdesk",
    "Your invitation to answer chats on Frontdesk": "Pozvánka k odpovídání na chaty ve Frontdesku",
    "%(num)d notification held back on %(shop)s": (
        "%(num)d zadržené upozornění na %(shop)s",
        "%(num)d zadržená upozornění na %(shop)s",
        "%(num)d zadržených upozornění na %(shop)s",
    ),
    "Offline message": "Zpráva mimo provoz",
    "Missed conversation": "Zmeškaná konverzace",
    "Please confirm that this is your e-mail address.": (
        "Potvrďte prosím, že je to vaše e-mailová adresa."
    ),
    (
        "This address was given for an agent of %(shop)s on the Frontdesk at %(site)s. "
        "Until it is confirmed, Frontdesk sends it no notification."
    ): (
        "Tato adresa byla zadána pro operátora %(shop)s ve Frontdesku na %(site)s. Dokud "
        "nebude potvrzena, Frontdesk na ni neposílá žádná upozornění."
    ),
    "Confirm the address": "Potvrdit adresu",
    "The link works for %(num)d day.": (
        "Odkaz platí %(num)d den.",
        "Odkaz platí %(num)d dny.",
        "Odkaz platí %(num)d dní.",
    ),
    "If you did not ask for this, ignore this e-mail: nothing more will come to this address.": (
        "Pokud jste o to nežádali, tento e-mail ignorujte: na tuto adresu už nic nepřijde."
    ),
    "You are invited to answer chats on Frontdesk.": (
        "Jste pozváni k odpovídání na chaty ve Frontdesku."
    ),
    (
        "Somebody who calls themselves %(inviter)s added this address as an agent of "
        "%(shop)s on the Frontdesk at %(site)s. These names are what they typed, not "
        "words of Frontdesk."
    ): (
        "Někdo, kdo si říká %(inviter)s, přidal tuto adresu jako operátora %(shop)s ve "
        "Frontdesku na %(site)s. Tato jména napsal on, nejsou to slova Frontdesku."
    ),
    "Accept the invitation and confirm your address": "Přijmout pozvánku a potvrdit adresu",
    "Whoever invited you gives you your password.": "Heslo vám dá ten, kdo vás pozval.",
    "If you do not know them, ignore this e-mail: nothing more will come to this address.": (
        "Pokud tuto osobu neznáte, tento e-mail ignorujte: na tuto adresu už nic nepřijde."
    ),
    "%(num)d notification was held back": (
        "%(num)d upozornění bylo zadrženo",
        "%(num)d upozornění byla zadržena",
        "%(num)d upozornění bylo zadrženo",
    ),
    (
        "You had reached the limit of notification e-mails for the hour, so these are "
        "listed here in one e-mail instead. Visitor names are what the visitors typed."
    ): (
        "Dosáhli jste limitu e-mailových upozornění za hodinu, proto jsou tady vypsána v "
        "jednom e-mailu. Jména návštěvníků napsali sami návštěvníci."
    ),
    '"%(typed)s"': "\u201e%(typed)s\u201c",
    (
        "The name, e-mail address, page and messages are what the visitor sent; Frontdesk "
        "has not checked them."
    ): (
        "Jméno, e-mailovou adresu, stránku a zprávy poslal návštěvník; Frontdesk je nekontroloval."
    ),
    "Frontdesk cannot send e-mail: notifications of %(shop)s wait": (
        "Frontdesk nemůže odesílat e-maily: oznámení %(shop)s čekají"
    ),
    "Nobody is online on %(shop)s during business hours": (
        "V %(shop)s není během provozní doby nikdo online"
    ),
    "A visitor of %(shop)s reached nobody": "Návštěvník %(shop)s nikoho nezastihl",
    (
        "A visitor wrote to %(shop)s and nobody was told: the conversation's team has no "
        "active agent."
    ): (
        "Návštěvník napsal %(shop)s a nikdo nebyl upozorněn: tým konverzace nemá žádného "
        "aktivního agenta."
    ),
    (
        "A visitor wrote to %(shop)s and nobody was told: every agent of the team has "
        "switched these e-mails off or has not confirmed their address, and nobody has pushes."
    ): (
        "Návštěvník napsal %(shop)s a nikdo nebyl upozorněn: všichni agenti týmu mají tyto "
        "e-maily vypnuté nebo nepotvrdili svou adresu a nikdo nemá push oznámení."
    ),
    (
        "A visitor wrote to %(shop)s and nobody was told: every e-mail of the notification "
        "was refused or came back."
    ): (
        "Návštěvník napsal %(shop)s a nikdo nebyl upozorněn: každý e-mail oznámení byl "
        "odmítnut nebo se vrátil."
    ),
    (
        "The mail server has not taken an e-mail from Frontdesk for a while. Notifications "
        "of %(shop)s wait and go out once it works again."
    ): (
        "Poštovní server už chvíli nepřijímá e-maily z Frontdesku. Oznámení %(shop)s čekají "
        "a odejdou, jakmile bude znovu fungovat."
    ),
    (
        "Nobody of %(shop)s has been online for a while during business hours: visitors see "
        "the offline form."
    ): (
        "Z %(shop)s už chvíli během provozní doby nikdo není online: návštěvníci vidí "
        "offline formulář."
    ),
    (
        "You get this once, however often it happens, until it is resolved or dismissed. The "
        "settings show what happened and whom each agent can be reached by."
    ): (
        "Toto dostanete jednou, ať se to stane jakkoli často, dokud to nebude vyřešeno nebo "
        "zamítnuto. Nastavení ukazuje, co se stalo a jak je který agent dosažitelný."
    ),
}

LANGUAGES = {"de": GERMAN, "cs": CZECH}


def extract() -> None:
    subprocess.run(  # noqa: S603 (fixed arguments)
        [  # noqa: S607 (pybabel of the active environment)
            "pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(TEMPLATE.relative_to(ROOT)),
            "--no-location", "--sort-output", "--omit-header", "src",
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip


def write(locale: str, table: dict[str, Text]) -> list[str]:
    with TEMPLATE.open("rb") as pot:
        template = read_po(pot)
    catalog = Catalog(
        locale=locale,
        domain="frontdesk",
        header_comment=f"# Frontdesk's texts in {locale}, written by tools/translations.py.",
        project="Frontdesk",
        version="0.1",
        copyright_holder="Frontdesk",
        last_translator="Frontdesk",
        language_team=f"Frontdesk {locale}",
        fuzzy=False,
    )
    missing = []
    for message in template:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key not in table:
            missing.append(key)
            continue
        catalog.add(message.id, table[key])
    with (LOCALES / locale / "LC_MESSAGES" / "frontdesk.po").open("wb") as po:
        write_po(po, catalog, omit_header=False, no_location=True, width=100)
    return missing


def main() -> int:
    extract()
    status = 0
    for locale, table in LANGUAGES.items():
        (LOCALES / locale / "LC_MESSAGES").mkdir(parents=True, exist_ok=True)
        for key in write(locale, table):
            print(f"{locale}: not translated: {key!r}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
