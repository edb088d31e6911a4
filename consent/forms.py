from django import forms
from django.conf import settings

from consent.models import Decision, Frequency, Purpose, Topic
from consent.selectors import ConsentState
from consent.services import PreferenceChoices

PURPOSE_WORDING = {
    Purpose.EMAIL_MARKETING: "Send me marketing email from {shop}.",
    Purpose.TRACKING: "Remember what I look at and buy on the site (behavioral tracking).",
    Purpose.PERSONALIZATION: "Use what you know about me to choose what you show and send me (personalization).",
}
PAUSES = [("7", "Pause for a week"), ("30", "Pause for a month"), ("90", "Pause for three months")]


class SubscribeForm(forms.Form):
    email = forms.EmailField(max_length=254)
    first_name = forms.CharField(max_length=150, required=False)
    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    policy_version = forms.CharField(max_length=50, required=False, widget=forms.HiddenInput)
    wording = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    # Left empty by people; bots that fill every field get a polite reply and nothing else.
    website = forms.CharField(
        max_length=200,
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args, topics: list[Topic], **kwargs):
        super().__init__(*args, **kwargs)
        self._topics = {t.slug: t for t in topics}
        self.fields["topics"].choices = [(t.slug, t.name) for t in topics]

    def clean_topics(self) -> list[Topic]:
        return [self._topics[slug] for slug in self.cleaned_data["topics"]]


class PreferenceForm(forms.Form):
    """One switch per purpose and topic, a frequency and a pause, set from the ledger's state."""

    frequency = forms.ChoiceField(choices=Frequency.choices, label="How often")
    pause = forms.ChoiceField(choices=PAUSES, required=False, label="Take a break")

    def __init__(self, *args, topics: list[Topic], state: ConsentState, **kwargs):
        super().__init__(*args, **kwargs)
        self.topics = topics
        for purpose in Purpose:
            self.fields[f"purpose_{purpose}"] = forms.BooleanField(
                required=False,
                label=PURPOSE_WORDING[purpose].format(shop=settings.SHOP_NAME),
                initial=state.allows(purpose),
            )
        for topic in topics:
            self.fields[f"topic_{topic.slug}"] = forms.BooleanField(
                required=False,
                label=f"{topic.name}: {topic.description}" if topic.description else topic.name,
                initial=state.topics.get(topic.slug) == Decision.GRANTED,
            )
        self.fields["frequency"].initial = state.frequency
        if state.paused:
            keep = f"Stay paused until {state.paused_until:%-d %B %Y}"
            self.fields["pause"].choices = [("", keep), ("0", "Resume now"), *PAUSES]
        else:
            self.fields["pause"].choices = [("0", "Don't pause"), *PAUSES]
        self.fields["pause"].initial = "" if state.paused else "0"

    def purpose_fields(self):
        return [self[f"purpose_{p}"] for p in Purpose]

    def topic_fields(self):
        return [self[f"topic_{t.slug}"] for t in self.topics]

    def choices(self) -> PreferenceChoices:
        data = self.cleaned_data
        pause = data.get("pause")
        return PreferenceChoices(
            purposes={p.value: data[f"purpose_{p}"] for p in Purpose},
            topics={t.slug: data[f"topic_{t.slug}"] for t in self.topics},
            frequency=data["frequency"],
            pause_days=int(pause) if pause else None,
        )

    def wordings(self) -> dict[str, str]:
        labels = {p.value: self.fields[f"purpose_{p}"].label for p in Purpose}
        return labels | {t.slug: self.fields[f"topic_{t.slug}"].label for t in self.topics}
